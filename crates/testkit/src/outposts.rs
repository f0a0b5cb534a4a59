//! The Outposts API in memory.

use super::*;

impl Outposts for InMemoryAws {
    async fn assets(&self, outpost: &OutpostId) -> Result<Vec<Asset>, AwsError> {
        self.call("ListAssets", |w| {
            w.assets.get(outpost.as_str()).cloned().ok_or_else(|| {
                AwsError::from_code(
                    "outposts:ListAssets",
                    "AccessDeniedException",
                    format!("not authorized to list the assets of {outpost}"),
                )
            })
        })
        .await
    }
}
