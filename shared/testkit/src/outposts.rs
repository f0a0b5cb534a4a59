//! The Outposts API in memory.

use super::*;
use crate::Op;

impl Outposts for InMemoryAws {
    async fn assets(&self, outpost: &OutpostId) -> Result<Vec<Asset>, AwsError> {
        self.call(Op::ListAssets, |w| {
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

    async fn running_types(&self, outpost: &OutpostId) -> Result<Vec<String>, AwsError> {
        self.call(Op::ListAssetInstances, |w| {
            if !w.assets.contains_key(outpost.as_str()) {
                return Err(AwsError::from_code(
                    "outposts:ListAssetInstances",
                    "AccessDeniedException",
                    format!("not authorized to list the instances of {outpost}"),
                ));
            }
            let arn = w
                .subnets
                .values()
                .flatten()
                .find(|arn| outpost.is_named_by_arn(arn))
                .cloned();
            Ok(w.instances
                .values()
                .filter(|i| {
                    matches!(i.state.as_str(), "pending" | "running")
                        && i.outpost_arn.is_some()
                        && i.outpost_arn == arn
                })
                .filter_map(|i| i.instance_type.clone())
                .collect())
        })
        .await
    }
}
