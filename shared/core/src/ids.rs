//! Ids that travel through the agent, one type each, so that an instance id is never passed
//! where a target group's ARN is expected. Each reads as the `&str` AWS wrote.

/// Declares an id newtype over `String`: built from and compared with strings, read as `&str`.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as AWS wrote it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type! {
    /// An EC2 instance id, `i-…`.
    InstanceId
}

id_type! {
    /// A launch template id, `lt-…`.
    TemplateId
}

id_type! {
    /// An Elastic Load Balancing target group's ARN.
    TargetGroupArn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_and_serializes_as_the_string_aws_wrote() {
        let id = InstanceId::from("i-0abc");
        assert_eq!(id, "i-0abc");
        assert_eq!("i-0abc", id);
        assert_eq!(id.as_str(), "i-0abc");
        assert_eq!(id.to_string(), "i-0abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"i-0abc\"");
        let by_id = std::collections::HashMap::from([(id.clone(), 1)]);
        assert_eq!(by_id.get("i-0abc"), Some(&1), "looked up by &str");
    }
}
