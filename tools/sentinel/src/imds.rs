//! The instance metadata service (IMDSv2), over a small plain-HTTP/1.1 client: does the
//! instance's tag `autorestart:replaced-by` name a replacement?
//!
//! Instance tags are in the metadata only when the instance allows it
//! (`InstanceMetadataTags=enabled`); the Region keeps them current while the link is up.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::config::Endpoint;
use crate::machine::Lookup;

/// How long to wait to connect, and for each read or write.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The most of a response read: tags are short.
const MAX_RESPONSE: u64 = 64 * 1024;
/// The tag the agent writes on an instance once it has launched its replacement.
const REPLACED_BY: &str = "autorestart:replaced-by";
/// The instance's tag keys, one per line.
const TAGS: &str = "/latest/meta-data/tags/instance";
/// Why the tag keys are missing when IMDS answers 404.
const NO_TAGS: &str = "instance tags are not in the instance metadata: enable them \
                       (InstanceMetadataTags=enabled)";

/// Whether the instance's tags name a replacement, read through IMDSv2 at `imds`.
pub fn replacement(imds: &Endpoint) -> Lookup {
    look_up(imds)
        .unwrap_or_else(|why| Lookup::Unreadable(format!("instance metadata at {imds}: {why}")))
}

/// A token, then the tag keys, then the value of `autorestart:replaced-by` if it is there.
fn look_up(imds: &Endpoint) -> Result<Lookup, String> {
    let ttl = ("X-aws-ec2-metadata-token-ttl-seconds", "60");
    let token = fetch(imds, "PUT", "/latest/api/token", ttl, "a token")?;
    let token = token.trim();
    if token.is_empty() || token.contains(['\r', '\n']) {
        return Err("an unusable token".to_owned());
    }
    let auth = ("X-aws-ec2-metadata-token", token);
    let keys = call(imds, "GET", TAGS, auth).map_err(|err| format!("the tag keys: {err}"))?;
    match keys.status {
        200 => {}
        404 => return Ok(Lookup::Unreadable(NO_TAGS.to_owned())),
        status => return Err(format!("the tag keys: HTTP {status}")),
    }
    if !keys.body.lines().any(|key| key.trim() == REPLACED_BY) {
        return Ok(Lookup::Absent);
    }
    let path = format!("{TAGS}/{REPLACED_BY}");
    let id = fetch(imds, "GET", &path, auth, "the tag's value")?;
    Ok(Lookup::Present(id.trim().to_owned()))
}

/// The body of a request that must answer 200; the error names `what` was asked.
fn fetch(
    imds: &Endpoint,
    method: &str,
    path: &str,
    header: (&str, &str),
    what: &str,
) -> Result<String, String> {
    let response = call(imds, method, path, header).map_err(|err| format!("{what}: {err}"))?;
    match response.status {
        200 => Ok(response.body),
        status => Err(format!("{what}: HTTP {status}")),
    }
}

/// An HTTP response's status and body.
#[derive(Debug)]
struct Response {
    status: u16,
    body: String,
}

/// One HTTP/1.1 request with one header and no body, on a connection of its own.
fn call(imds: &Endpoint, method: &str, path: &str, header: (&str, &str)) -> io::Result<Response> {
    let addr = (imds.host.as_str(), imds.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("the address resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let (name, value) = header;
    let length = if method == "PUT" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {imds}\r\n{name}: {value}\r\n{length}\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;

    let mut reader = BufReader::new(stream.take(MAX_RESPONSE));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = parse_status(&line)
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {:?}", line.trim_end())))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = value.parse::<u64>();
            length = Some(parsed.map_err(|_| io::Error::other("a bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            return Err(io::Error::other(format!(
                "an unsupported Transfer-Encoding: {value}"
            )));
        }
    }
    let mut body = Vec::new();
    match length {
        Some(length) => {
            let read = reader.take(length).read_to_end(&mut body)?;
            if read as u64 != length {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        // `Connection: close`: the body ends with the connection.
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    let body = String::from_utf8(body).map_err(|_| io::Error::other("a body not in UTF-8"))?;
    Ok(Response { status, body })
}

/// The status code of a status line such as `HTTP/1.1 200 OK`.
fn parse_status(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// An IMDS stub on a free port that answers each request line with `answer`.
    fn stub(answer: fn(&str) -> (u16, &'static str)) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = String::new();
                {
                    let mut reader = BufReader::new(&stream);
                    while reader.read_line(&mut head).is_ok_and(|read| read > 2) {}
                }
                let (status, body) = answer(head.lines().next().unwrap_or_default());
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Endpoint {
            host: "127.0.0.1".to_owned(),
            port,
        }
    }

    #[test]
    fn a_replacement_in_the_tags_is_present() {
        let imds = stub(|request| match request {
            "PUT /latest/api/token HTTP/1.1" => (200, "token\n"),
            "GET /latest/meta-data/tags/instance HTTP/1.1" => {
                (200, "Name\nautorestart:replaced-by")
            }
            "GET /latest/meta-data/tags/instance/autorestart:replaced-by HTTP/1.1" => {
                (200, "i-0new\n")
            }
            _ => (404, ""),
        });
        assert_eq!(replacement(&imds), Lookup::Present("i-0new".to_owned()));
    }

    #[test]
    fn no_replacement_tag_is_absent() {
        let imds = stub(|request| match request.split(' ').next() {
            Some("PUT") => (200, "token"),
            _ => (200, "Name\nautorestart:enabled\n"),
        });
        assert_eq!(replacement(&imds), Lookup::Absent);
    }

    #[test]
    fn tags_missing_from_the_metadata_are_unreadable_and_say_why() {
        let imds = stub(|request| match request.split(' ').next() {
            Some("PUT") => (200, "token"),
            _ => (404, ""),
        });
        let Lookup::Unreadable(why) = replacement(&imds) else {
            panic!("not unreadable");
        };
        assert!(why.contains("InstanceMetadataTags=enabled"), "{why}");
    }

    #[test]
    fn a_refused_token_is_unreadable() {
        let imds = stub(|_| (403, ""));
        let Lookup::Unreadable(why) = replacement(&imds) else {
            panic!("not unreadable");
        };
        assert!(why.contains("HTTP 403"), "{why}");
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
    }
}
