//! The AWS configuration every SDK client of hookpost is built from (DynamoDB, SQS,
//! EventBridge): one TLS stack, and in Lambda only the variables Lambda sets.

pub use aws_config::SdkConfig;

/// The HTTPS client every AWS SDK client here uses: rustls on ring, the one TLS stack of
/// the workspace (the SDK's default would add aws-lc to every binary).
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The AWS configuration hookpost-local and the tests build clients from: `endpoint` (an
/// AWS-compatible server such as moto) or, when `None`, AWS as the environment configures it
/// (the SDK's whole provider chain: profiles, SSO, IMDS...). A local endpoint without
/// credentials in the environment gets placeholder ones: such servers accept any.
pub async fn aws_config(endpoint: Option<&str>) -> SdkConfig {
    use aws_config::BehaviorVersion;
    use aws_sdk_dynamodb::config::{Credentials, Region};

    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
            loader =
                loader.credentials_provider(Credentials::new("hookpost", "hookpost", None, None, "hookpost-local"));
        }
    }
    loader.load().await
}

/// What the Lambda environment lacks for an AWS configuration.
#[derive(Debug, thiserror::Error)]
pub enum AwsConfigError {
    #[error("AWS_REGION is not set")]
    NoRegion,
    #[error("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")]
    NoCredentials,
}

/// A Lambda function's AWS configuration, from the variables Lambda sets (`AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, which stay valid for
/// the execution environment's life). Nothing else is consulted, so the SDK's provider
/// chain (STS, SSO, profile files, IMDS) is not linked into the functions: smaller
/// artifacts, no start-up probing. With `endpoint` (tests), missing values get placeholders.
pub fn lambda_aws_config(endpoint: Option<&str>) -> Result<SdkConfig, AwsConfigError> {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};

    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| endpoint.map(|_| "us-east-1".to_owned()))
        .ok_or(AwsConfigError::NoRegion)?;
    let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "lambda-environment"),
        _ if endpoint.is_some() => Credentials::new("hookpost", "hookpost", None, None, "hookpost-local"),
        _ => return Err(AwsConfigError::NoCredentials),
    };
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}
