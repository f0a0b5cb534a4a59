//! Generates a running instance's recovery launch template on an alternate subnet and adds
//! it to the instance's tag, over a [`TemplateStore`].

use std::future::Future;

use autorestart_core::error::AwsError;
use autorestart_core::tags::{self, TemplateListError};
use autorestart_core::template_plan::{
    Refusal, SourceInstance, SubnetFacts, TemplatePlan, plan_template, templates_tag_with,
};

/// A launch template that exists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExistingTemplate {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its `autorestart:template-shape` tag, if the generator made it.
    pub shape: Option<String>,
    /// What EC2 flagged in the template when it created it (`code: message`).
    pub ec2_warnings: Vec<String>,
}

/// What the generator reads and writes in EC2.
pub trait TemplateStore: Sync {
    /// The instance, or `None` if it does not exist.
    fn source_instance(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<Option<SourceInstance>, AwsError>> + Send;
    /// The subnet, or `None` if it does not exist.
    fn subnet(
        &self,
        subnet_id: &str,
    ) -> impl Future<Output = Result<Option<SubnetFacts>, AwsError>> + Send;
    /// The launch template with this name, if there is one.
    fn template_named(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ExistingTemplate>, AwsError>> + Send;
    /// Creates the template; `Ok(None)` when one with its name appeared meanwhile.
    fn create_template(
        &self,
        plan: &TemplatePlan,
    ) -> impl Future<Output = Result<Option<ExistingTemplate>, AwsError>> + Send;
    /// Makes the instance's tags readable in its instance metadata (`InstanceMetadataTags`),
    /// where its sentinel reads `autorestart:replaced-by`.
    fn enable_metadata_tags(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Sets one tag on the instance.
    fn tag_instance(
        &self,
        instance_id: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// What the generator was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateRequest {
    /// The running opted-in instance.
    pub instance_id: String,
    /// A subnet on an alternate Outpost server.
    pub subnet_id: String,
    /// Plan only: read, decide and print, create nothing.
    pub dry_run: bool,
}

/// What the generator did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GenerateReport {
    /// The template decided.
    pub plan: TemplatePlan,
    /// The template's id; none in a dry run that found none.
    pub template_id: Option<String>,
    /// Whether this run created it (false: it existed, or dry run).
    pub created: bool,
    /// The instance's templates tag before.
    pub templates_tag_before: Option<String>,
    /// The instance's templates tag after (what it would be, in a dry run).
    pub templates_tag_after: Option<String>,
    /// Whether this run wrote the tag.
    pub tagged: bool,
    /// Whether nothing was written on purpose.
    pub dry_run: bool,
    /// What EC2 flagged in the template it created: it may fail to launch.
    pub ec2_warnings: Vec<String>,
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The inputs cannot give a usable template.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// An AWS call failed.
    #[error("{0}")]
    Aws(#[from] AwsError),
}

/// Reads the instance and subnet, creates the template unless one by its name exists, and adds
/// it last to the instance's `autorestart:recovery-templates`.
pub async fn generate(
    store: &impl TemplateStore,
    request: &GenerateRequest,
) -> Result<GenerateReport, GenerateError> {
    let source = store
        .source_instance(&request.instance_id)
        .await?
        .ok_or_else(|| Refusal::InstanceNotFound(request.instance_id.clone()))?;
    let subnet = store
        .subnet(&request.subnet_id)
        .await?
        .ok_or_else(|| Refusal::SubnetNotFound(request.subnet_id.clone()))?;
    let mut plan = plan_template(&source, &subnet)?;
    let before = source.tag(tags::RECOVERY_TEMPLATES).map(str::to_owned);
    let bad_tag = |problem: TemplateListError| Refusal::BadTemplatesTag {
        instance: source.instance_id.to_string(),
        problem: problem.to_string(),
    };
    // A malformed tag is refused before anything is created; a dry run shows this value.
    let tag_with_new = templates_tag_with(before.as_deref(), "<new template>").map_err(bad_tag)?;

    let mut template = store.template_named(&plan.template_name).await?;
    let mut created = false;
    if template.is_none() && !request.dry_run {
        template = match store.create_template(&plan).await? {
            Some(made) => {
                created = true;
                Some(made)
            }
            None => Some(
                store
                    .template_named(&plan.template_name)
                    .await?
                    .ok_or_else(|| unreadable_new_template(&plan.template_name))?,
            ),
        };
    }
    let Some(template) = template else {
        return Ok(GenerateReport {
            plan,
            template_id: None,
            created: false,
            templates_tag_after: tag_with_new,
            templates_tag_before: before,
            tagged: false,
            dry_run: request.dry_run,
            ec2_warnings: Vec::new(),
        });
    };
    if let Some(shape) = &template.shape
        && !created
        && *shape != plan.shape
    {
        plan.warnings.push(format!(
            "launch template {} was made from what {} ran then and differs from it now (AMI, type, groups, volumes or tags): delete the template and run again to refresh it",
            template.id, plan.instance_id
        ));
    }
    let new_value = templates_tag_with(before.as_deref(), &template.id).map_err(bad_tag)?;
    let mut tagged = false;
    if let Some(value) = &new_value
        && !request.dry_run
    {
        store
            .tag_instance(&source.instance_id, tags::RECOVERY_TEMPLATES, value)
            .await?;
        tagged = true;
    }
    Ok(GenerateReport {
        plan,
        template_id: Some(template.id),
        created,
        templates_tag_after: new_value.or_else(|| before.clone()),
        templates_tag_before: before,
        tagged,
        dry_run: request.dry_run,
        ec2_warnings: template.ec2_warnings,
    })
}

/// EC2 said the name is taken, yet no template by that name can be read.
fn unreadable_new_template(name: &str) -> AwsError {
    AwsError {
        operation: "ec2:DescribeLaunchTemplates",
        kind: autorestart_core::error::ErrorKind::Transient,
        code: "InvalidLaunchTemplateName.AlreadyExistsException".into(),
        message: format!(
            "launch template {name} exists but cannot be read yet; run again in a minute"
        ),
    }
}

/// What setting an instance up for its sentinel did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SentinelSetup {
    /// The instance.
    pub instance_id: String,
    /// Its `autorestart:on-link-loss` tag before.
    pub policy_before: Option<String>,
    /// The tag now: `self-fenced:T`.
    pub policy: String,
}

/// Prepares a running, opted-in instance for the sentinel: its tags readable in its instance
/// metadata, then its `autorestart:on-link-loss` tag set to `self-fenced:T`, in that order (the
/// agent waits for a fence only once the tag says so). Safe to run again.
pub async fn prepare_sentinel(
    store: &impl TemplateStore,
    instance_id: &str,
    fence_after_seconds: u64,
) -> Result<SentinelSetup, GenerateError> {
    let policy = format!("self-fenced:{fence_after_seconds}");
    autorestart_core::link_loss::parse(&policy).map_err(Refusal::BadLinkLossPolicy)?;
    let source = store
        .source_instance(instance_id)
        .await?
        .ok_or_else(|| Refusal::InstanceNotFound(instance_id.to_owned()))?;
    if !tags::is_opted_in(source.tag(tags::ENABLED)) {
        return Err(Refusal::NotOptedIn(instance_id.to_owned()).into());
    }
    store.enable_metadata_tags(instance_id).await?;
    let before = source.tag(tags::ON_LINK_LOSS).map(str::to_owned);
    if before.as_deref() != Some(policy.as_str()) {
        store
            .tag_instance(instance_id, tags::ON_LINK_LOSS, &policy)
            .await?;
    }
    Ok(SentinelSetup {
        instance_id: instance_id.to_owned(),
        policy_before: before,
        policy,
    })
}
