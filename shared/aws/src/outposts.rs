//! [`Outposts`] over the AWS Outposts API.

use aws_sdk_outposts::Client;

use super::sdk_error::from_sdk;
use autorestart_core::alarm::OutpostId;
use autorestart_core::error::AwsError;
use autorestart_flows::ports::{Asset, Outposts};

/// The Outposts API through the SDK client.
#[derive(Clone, Debug)]
pub struct OutpostsApi {
    client: Client,
}

impl OutpostsApi {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Outposts for OutpostsApi {
    async fn assets(&self, outpost: &OutpostId) -> Result<Vec<Asset>, AwsError> {
        let mut pages = self
            .client
            .list_assets()
            .outpost_identifier(outpost.as_str())
            .into_paginator()
            .send();
        let mut assets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("outposts:ListAssets", e))?;
            for asset in page.assets() {
                let compute = asset.compute_attributes();
                assets.push(Asset {
                    id: asset.asset_id().unwrap_or_default().to_owned(),
                    state: compute.and_then(|c| c.state()).map(|s| s.as_str().into()),
                    capacities: compute
                        .map(|c| {
                            c.instance_type_capacities()
                                .iter()
                                .map(|t| (t.instance_type().to_owned(), t.count()))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
        Ok(assets)
    }

    async fn running_types(&self, outpost: &OutpostId) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .client
            .list_asset_instances()
            .outpost_identifier(outpost.as_str())
            .into_paginator()
            .send();
        let mut types = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("outposts:ListAssetInstances", e))?;
            types.extend(
                page.asset_instances()
                    .iter()
                    .filter_map(|i| i.instance_type().map(str::to_owned)),
            );
        }
        Ok(types)
    }
}
