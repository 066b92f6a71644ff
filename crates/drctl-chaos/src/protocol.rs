//! What an AWS request is (service, operation, protocol) and how that
//! service's protocol spells an error, so that a fault the proxy invents
//! reaches the SDK exactly as a real one would.
//!
//! The operation is read from the request, never guessed from timing:
//! `X-Amz-Target` (JSON protocols), the `Action=` form field (EC2 and the
//! query protocols), the `/operation/<Name>` path (Smithy RPC v2 CBOR, used
//! by CloudWatch), or method + path for the REST services (S3, Route53).

use hyper::http::{HeaderMap, Method};

/// How a service encodes requests and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// EC2's own query dialect: `<Response><Errors><Error>`.
    Ec2,
    /// awsQuery (IAM, STS, SNS, RDS, ELBv2, Auto Scaling): `<ErrorResponse>`.
    Query,
    /// awsJson 1.0/1.1 (DynamoDB, Secrets Manager, tagging): `{"__type"}`.
    Json,
    /// Smithy RPC v2 CBOR (CloudWatch in current SDKs).
    Cbor,
    /// REST-XML with `<ErrorResponse>` (Route53).
    RestXml,
    /// S3's REST-XML: a bare `<Error>`.
    S3,
}

/// One request, as the proxy classifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// SigV4 service name from the `Authorization` credential scope (`ec2`, `s3`...).
    pub service: String,
    /// Operation name (`CreateVpc`); for S3 method + sub-resource (`PUT ?tagging`).
    pub operation: String,
    pub protocol: Protocol,
}

impl Call {
    /// Whether the call changes something: every operation but
    /// Describe/Get/List/Head (the rule drctl's own call log uses), and for
    /// S3 every method but GET/HEAD.
    pub fn is_mutating(&self) -> bool {
        if self.protocol == Protocol::S3 {
            return !(self.operation.starts_with("GET") || self.operation.starts_with("HEAD"));
        }
        !["Describe", "Get", "List", "Head"]
            .iter()
            .any(|p| self.operation.starts_with(p))
    }

    /// `service:Operation`, as drctl's call log names it.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }
}

/// The SigV4 region of a request (`Credential=AK/date/REGION/service/aws4_request`).
pub fn region_of(headers: &HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    auth.split("Credential=")
        .nth(1)
        .and_then(|c| c.split(['/', ',']).nth(2))
        .unwrap_or("unknown")
        .to_string()
}

/// The SigV4 service of a request (`Credential=AK/date/region/SERVICE/aws4_request`).
fn service_of(headers: &HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    auth.split("Credential=")
        .nth(1)
        .and_then(|c| c.split(['/', ',']).nth(3))
        .unwrap_or("unknown")
        .to_string()
}

/// The value of `key` in an `application/x-www-form-urlencoded` body.
fn form_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// Route53's REST paths to operation names (those drctl uses; others get
/// method + path, still mutating unless GET).
fn route53_operation(method: &Method, path: &str) -> String {
    let parts: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .skip(1) // the API version, 2013-04-01
        .collect();
    let op = match (method.as_str(), parts.as_slice()) {
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("POST", ["hostedzone", _]) => "UpdateHostedZoneComment",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("POST", ["healthcheck"]) => "CreateHealthCheck",
        ("POST", ["healthcheck", _]) => "UpdateHealthCheck",
        ("DELETE", ["healthcheck", _]) => "DeleteHealthCheck",
        ("GET", ["healthcheck", ..]) => "GetHealthCheck",
        ("POST", ["tags", _, _]) => "ChangeTagsForResource",
        ("GET", ["tags", _, _]) => "ListTagsForResource",
        ("POST", ["tags", _]) => "ListTagsForResources",
        ("GET", ["change", _]) => "GetChange",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}

/// Classifies a request from its method, path, query, headers and body.
pub fn classify(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Call {
    let service = service_of(headers);
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    if let Some(target) = header("x-amz-target") {
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        return Call {
            service,
            operation,
            protocol: Protocol::Json,
        };
    }
    if header("smithy-protocol") == Some("rpc-v2-cbor") {
        let operation = path
            .rsplit("/operation/")
            .next()
            .unwrap_or(path)
            .to_string();
        return Call {
            service,
            operation,
            protocol: Protocol::Cbor,
        };
    }
    let text = std::str::from_utf8(body).unwrap_or("");
    if let Some(action) = form_field(text, "Action") {
        let protocol = if service == "ec2" {
            Protocol::Ec2
        } else {
            Protocol::Query
        };
        return Call {
            service,
            operation: action.to_string(),
            protocol,
        };
    }
    if service == "route53" {
        return Call {
            operation: route53_operation(method, path),
            service,
            protocol: Protocol::RestXml,
        };
    }
    // S3 (and anything else REST): method plus the sub-resource, if any.
    let sub = query
        .and_then(|q| q.split('&').next())
        .map(|k| k.split('=').next().unwrap_or(k))
        .filter(|k| !k.is_empty() && !k.starts_with("x-id"))
        .map(|k| format!(" ?{k}"))
        .unwrap_or_default();
    let target = if path.trim_matches('/').contains('/') {
        " object"
    } else {
        " bucket"
    };
    Call {
        service,
        operation: format!("{method}{target}{sub}"),
        protocol: Protocol::S3,
    }
}

/// An error answer the proxy makes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 500 InternalError: the service failed (the call may have taken effect).
    Internal,
    /// 503 ServiceUnavailable.
    Unavailable,
    /// The service's throttling error (400, or 503 for EC2/S3 as AWS does).
    Throttle,
}

/// Status, content type and body of `kind` in `call`'s protocol.
pub fn error_answer(
    call: &Call,
    kind: ErrorKind,
    request_id: &str,
) -> (u16, &'static str, Vec<u8>) {
    let (status, code, message) = match (kind, call.protocol) {
        (ErrorKind::Internal, Protocol::Ec2 | Protocol::S3) => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        (ErrorKind::Internal, Protocol::Json | Protocol::Cbor) => {
            (500, "InternalServerError", "Internal server error")
        }
        (ErrorKind::Internal, _) => (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        ),
        (ErrorKind::Unavailable, Protocol::Ec2) => (
            503,
            "Unavailable",
            "The server is overloaded and can't handle the request.",
        ),
        (ErrorKind::Unavailable, _) => (
            503,
            "ServiceUnavailable",
            "Service is unavailable. Please try again.",
        ),
        (ErrorKind::Throttle, Protocol::Ec2) => {
            (503, "RequestLimitExceeded", "Request limit exceeded.")
        }
        (ErrorKind::Throttle, Protocol::S3) => {
            (503, "SlowDown", "Please reduce your request rate.")
        }
        (ErrorKind::Throttle, Protocol::Json | Protocol::Cbor) => {
            (400, "ThrottlingException", "Rate exceeded")
        }
        (ErrorKind::Throttle, _) => (400, "Throttling", "Rate exceeded"),
    };
    let sender = if status < 500 { "Sender" } else { "Receiver" };
    match call.protocol {
        Protocol::Ec2 => (
            status,
            "text/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>").into_bytes(),
        ),
        Protocol::S3 => (
            status,
            "application/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>").into_bytes(),
        ),
        Protocol::Query | Protocol::RestXml => (
            status,
            "text/xml",
            format!("<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").into_bytes(),
        ),
        Protocol::Json => (
            status,
            "application/x-amz-json-1.0",
            format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}").into_bytes(),
        ),
        Protocol::Cbor => (status, "application/cbor", cbor_map(&[("__type", code), ("message", message)])),
    }
}

/// A CBOR map of text strings (RFC 8949 major types 5 and 3).
fn cbor_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        let n = s.len();
        if n < 24 {
            out.push(0x60 | n as u8);
        } else if n < 256 {
            out.extend([0x78, n as u8]);
        } else {
            out.push(0x79);
            out.extend((n as u16).to_be_bytes());
        }
        out.extend(s.as_bytes());
    }
    let mut out = vec![0xa0 | pairs.len() as u8];
    for (k, v) in pairs {
        text(&mut out, k);
        text(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::http::HeaderValue;

    fn headers(service: &str, extra: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let auth = format!("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        for (k, v) in extra {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn operations_come_from_the_request_not_a_guess() {
        let ec2 = classify(
            &Method::POST,
            "/",
            None,
            &headers("ec2", &[]),
            b"Action=CreateVpc&Version=2016-11-15",
        );
        assert_eq!(
            (ec2.name().as_str(), ec2.protocol, ec2.is_mutating()),
            ("ec2:CreateVpc", Protocol::Ec2, true)
        );
        let ddb = classify(
            &Method::POST,
            "/",
            None,
            &headers(
                "dynamodb",
                &[("x-amz-target", "DynamoDB_20120810.DescribeTable")],
            ),
            b"{}",
        );
        assert_eq!(
            (ddb.name().as_str(), ddb.protocol, ddb.is_mutating()),
            ("dynamodb:DescribeTable", Protocol::Json, false)
        );
        let cw = classify(
            &Method::POST,
            "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm",
            None,
            &headers("monitoring", &[("smithy-protocol", "rpc-v2-cbor")]),
            b"",
        );
        assert_eq!(
            (cw.operation.as_str(), cw.protocol, cw.is_mutating()),
            ("PutMetricAlarm", Protocol::Cbor, true)
        );
        let zone = classify(
            &Method::POST,
            "/2013-04-01/hostedzone",
            None,
            &headers("route53", &[]),
            b"<x/>",
        );
        assert_eq!(
            (zone.operation.as_str(), zone.is_mutating()),
            ("CreateHostedZone", true)
        );
        let tags = classify(
            &Method::POST,
            "/2013-04-01/tags/hostedzone",
            None,
            &headers("route53", &[]),
            b"",
        );
        assert!(
            !tags.is_mutating(),
            "ListTagsForResources is a POST that reads"
        );
        let put = classify(
            &Method::PUT,
            "/bucket-1",
            Some("tagging"),
            &headers("s3", &[]),
            b"",
        );
        assert_eq!(
            (put.operation.as_str(), put.is_mutating()),
            ("PUT bucket ?tagging", true)
        );
        let head = classify(&Method::HEAD, "/bucket-1", None, &headers("s3", &[]), b"");
        assert!(!head.is_mutating());
    }

    #[test]
    fn throttling_is_spelled_as_each_protocol_does() {
        let call = |service: &str, protocol| Call {
            service: service.into(),
            operation: "X".into(),
            protocol,
        };
        let body = |c: &Call| {
            let (status, _, b) = error_answer(c, ErrorKind::Throttle, "r1");
            (status, String::from_utf8_lossy(&b).into_owned())
        };
        let (s, b) = body(&call("ec2", Protocol::Ec2));
        assert!(
            s == 503 && b.contains("<Errors><Error><Code>RequestLimitExceeded</Code>"),
            "{b}"
        );
        let (s, b) = body(&call("iam", Protocol::Query));
        assert!(s == 400 && b.contains("<Code>Throttling</Code>"), "{b}");
        let (s, b) = body(&call("s3", Protocol::S3));
        assert!(
            s == 503 && b.contains("<Error><Code>SlowDown</Code>"),
            "{b}"
        );
        let (s, b) = body(&call("dynamodb", Protocol::Json));
        assert!(
            s == 400 && b.contains("\"__type\":\"ThrottlingException\""),
            "{b}"
        );
        let (_, _, cbor) = error_answer(
            &call("monitoring", Protocol::Cbor),
            ErrorKind::Internal,
            "r",
        );
        assert_eq!(cbor[0], 0xa2, "a CBOR map of two entries");
        assert_eq!(&cbor[1..8], b"\x66__type");
    }
}
