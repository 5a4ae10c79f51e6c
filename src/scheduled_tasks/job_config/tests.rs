use super::*;
use serde_json::{Value, json};

fn parse_for(v: Value, entity: EntityType) -> Result<JobConfigInput, InputError> {
    let body = json!({ "job_config": v });
    let mut root = Obj::root(&body).expect("object");
    parse(
        root.obj("job_config").expect("ok").expect("present"),
        entity,
    )
}

fn customer(v: Value) -> Result<JobConfig, InputError> {
    parse_for(v, EntityType::Events)?.resolve(None)
}

#[test]
fn fills_defaults() {
    let c = customer(json!({"bucket":"exports","region":"us-east-1"})).expect("valid");
    let echoed = serde_json::to_value(&c).expect("json");
    assert_eq!(
        echoed,
        json!({"bucket":"exports","region":"us-east-1","key_prefix":null,"format":"csv","compression":"none",
                   "compression_level":6,"encryption":"AES256","kms_key_id":null,"endpoint_url":null,
                   "use_path_style":false,"export_metadata_fields":[],"write_manifest":false,
                   "skip_empty":false,"key_layout":"flexprice","window_field":"ingested_at",
                   "provider":"s3","allow_shared_output":false})
    );
    let back: JobConfig = serde_json::from_value(echoed).expect("round trip");
    assert_eq!(back, c);
    // Rows stored before every field was written still read, with the defaults.
    let stored = json!({"bucket":"b","region":"r","compression":"gzip","compression_level":6,
            "encryption":"AES256","use_path_style":false,"write_manifest":false,"skip_empty":false,
            "key_layout":"flexprice","provider":"s3"});
    let old: JobConfig = serde_json::from_value(stored).expect("old row");
    assert_eq!(
        (old.key_prefix.as_str(), old.allow_shared_output),
        ("", false)
    );
}

#[test]
fn requires_bucket_and_region_for_customer_buckets() {
    let err = customer(json!({"region":"us-east-1"})).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("job_config.bucket", "S3 bucket name is required")
    );
    let err = customer(json!({"bucket":"","region":"us-east-1"})).unwrap_err();
    assert_eq!(err.message, "S3 bucket name is required");
    let err = customer(json!({"bucket":"exports","region":" "})).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("job_config.region", "AWS region is required")
    );
}

#[test]
fn managed_targets_supply_bucket_region_and_prefix() {
    let target = ManagedTarget {
        bucket: "managed".into(),
        region: "local".into(),
        key_prefix: "acme/prod".into(),
    };
    let input = parse_for(
            json!({"key_prefix":"/daily/","endpoint_url":"https://x.example.com","use_path_style":true}),
            EntityType::Invoice,
        )
        .expect("valid");
    let c = input.resolve(Some(&target)).expect("resolves");
    assert_eq!((c.bucket.as_str(), c.region.as_str()), ("managed", "local"));
    assert_eq!(c.key_prefix, "acme/prod/daily");
    assert_eq!(
        (c.endpoint_url, c.use_path_style, c.provider),
        (None, false, Provider::Flexprice)
    );
    let err = parse_for(json!({"provider":"flexprice"}), EntityType::Events)
        .expect("parses")
        .resolve(None)
        .unwrap_err();
    assert_eq!(err.field, "job_config.provider");
}

#[test]
fn enum_errors_list_the_allowed_values() {
    let cases = [
        (
            json!({"compression":"zip"}),
            "Compression type must be one of: none, gzip, zstd",
        ),
        (
            json!({"encryption":"SSE"}),
            "Encryption type must be one of: AES256, aws:kms, aws:kms:dsse, none",
        ),
        (
            json!({"key_layout":"hive"}),
            "job_config.key_layout must be one of: flexprice, partitioned",
        ),
        (
            json!({"compression_level":10}),
            "job_config.compression_level must be a whole number from 1 to 9",
        ),
        (
            json!({"kms_key_id":"k"}),
            "job_config.kms_key_id needs encryption aws:kms or aws:kms:dsse",
        ),
        (
            json!({"bucketname":"x"}),
            "job_config.bucketname is not a known field",
        ),
    ];
    for (v, msg) in cases {
        assert_eq!(parse_for(v, EntityType::Events).unwrap_err().message, msg);
    }
    let err = parse_for(json!({"provider":"gcs"}), EntityType::Events).unwrap_err();
    assert!(
        err.message.contains("S3-compatible storage only"),
        "{}",
        err.message
    );
}

#[test]
fn compression_levels_are_checked_per_codec() {
    let level = |v: Value| {
        parse_for(v, EntityType::Events).map(|c| (c.config.compression, c.config.compression_level))
    };
    assert_eq!(
        level(json!({"compression":"gzip"})),
        Ok((Compression::Gzip, 6))
    );
    assert_eq!(
        level(json!({"compression":"zstd"})),
        Ok((Compression::Zstd, 3))
    );
    assert_eq!(level(json!({})), Ok((Compression::None, 6)));
    assert_eq!(
        level(json!({"compression":"zstd","compression_level":19})),
        Ok((Compression::Zstd, 19))
    );
    assert_eq!(
        level(json!({"compression":"gzip","compression_level":1})),
        Ok((Compression::Gzip, 1))
    );
    for (v, message) in [
        (
            json!({"compression":"gzip","compression_level":10}),
            "job_config.compression_level must be a whole number from 1 to 9 for gzip compression",
        ),
        (
            json!({"compression":"zstd","compression_level":20}),
            "job_config.compression_level must be a whole number from 1 to 19 for zstd compression",
        ),
        (
            json!({"compression":"zstd","compression_level":0}),
            "job_config.compression_level must be a whole number from 1 to 19 for zstd compression",
        ),
        (
            json!({"compression":"zstd","compression_level":2.5}),
            "job_config.compression_level must be a whole number from 1 to 19 for zstd compression",
        ),
    ] {
        let err = level(v.clone()).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            ("job_config.compression_level", message),
            "{v}"
        );
    }
    let err = level(json!({"compression":"zstd","compression_level":"3"})).unwrap_err();
    assert_eq!(err.field, "job_config.compression_level");
    assert!(!err.message.contains("zstd compression"), "{}", err.message);
    let echoed = serde_json::to_value(
        customer(json!({"bucket":"b-1","region":"r","compression":"zstd"})).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&echoed["compression"], &echoed["compression_level"]),
        (&json!("zstd"), &json!(3))
    );
}

#[test]
fn parquet_takes_its_own_codecs_and_csv_refuses_snappy() {
    let codec = |v: Value| {
        parse_for(v, EntityType::Events).map(|c| {
            let c = c.config;
            (c.format, c.compression, c.compression_level)
        })
    };
    let parquet = |extra: Value| {
        let mut v = json!({"format": "parquet"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        codec(v)
    };
    assert_eq!(codec(json!({})), Ok((Format::Csv, Compression::None, 6)));
    assert_eq!(
        codec(json!({"format": "csv", "compression": "zstd"})),
        Ok((Format::Csv, Compression::Zstd, 3))
    );
    // zstd inside Parquet defaults to level 1 (Arrow's default), zstd around CSV to 3.
    assert_eq!(
        parquet(json!({})),
        Ok((Format::Parquet, Compression::Zstd, 1))
    );
    assert_eq!(
        parquet(json!({"compression": ""})),
        Ok((Format::Parquet, Compression::Zstd, 1))
    );
    assert_eq!(
        parquet(json!({"compression": "zstd", "compression_level": 12})),
        Ok((Format::Parquet, Compression::Zstd, 12))
    );
    assert_eq!(
        parquet(json!({"compression": "snappy"})),
        Ok((Format::Parquet, Compression::Snappy, 6))
    );
    assert_eq!(
        parquet(json!({"compression": "none"})),
        Ok((Format::Parquet, Compression::None, 6))
    );
    for (v, field, text) in [
        (
            json!({"format": "orc"}),
            "job_config.format",
            "must be one of: csv, parquet",
        ),
        (
            json!({"format": "Parquet"}),
            "job_config.format",
            "must be one of: csv, parquet",
        ),
        (
            json!({"format": "parquet", "compression": "gzip"}),
            "job_config.compression",
            "gzip is not available with format parquet",
        ),
        (
            json!({"format": "parquet", "compression": "lz4"}),
            "job_config.compression",
            "zstd, snappy, none for format parquet",
        ),
        (
            json!({"compression": "snappy"}),
            "job_config.compression",
            "snappy is only for format parquet",
        ),
        (
            json!({"format": "parquet", "compression_level": 20}),
            "job_config.compression_level",
            "from 1 to 19 for zstd compression",
        ),
        (
            json!({"format": "parquet", "compression": "snappy", "compression_level": 10}),
            "job_config.compression_level",
            "from 1 to 9 for snappy compression",
        ),
    ] {
        let err = codec(v.clone()).unwrap_err();
        assert_eq!(err.field, field, "{v}");
        assert!(err.message.contains(text), "{v}: {}", err.message);
    }
    // A task stored before formats existed is CSV.
    let mut stored =
        serde_json::to_value(customer(json!({"bucket":"b-1","region":"r"})).unwrap()).unwrap();
    stored.as_object_mut().unwrap().remove("format");
    let back: JobConfig = serde_json::from_value(stored).unwrap();
    assert_eq!(back.format, Format::Csv);
}

#[test]
fn metadata_fields_follow_the_entity_rules() {
    let fields = json!([{"entity_type":"customer","field_key":"acct","column_name":"Account"},
                            {"entity_type":"wallet","field_key":"tier"}]);
    let c = parse_for(
        json!({"export_metadata_fields": fields}),
        EntityType::CreditUsage,
    )
    .expect("valid");
    let cols: Vec<_> = c
        .config
        .export_metadata_fields
        .iter()
        .map(|f| f.column_name.as_str())
        .collect();
    assert_eq!(cols, ["Account", "tier"]);

    let refused = |fields: &Value, entity| {
        parse_for(json!({"export_metadata_fields": fields}), entity).unwrap_err()
    };
    let err = refused(&fields, EntityType::UsageAnalytics);
    assert_eq!(
        err.field,
        "job_config.export_metadata_fields[1].entity_type"
    );
    let err = refused(&fields, EntityType::Invoice);
    assert!(
        err.message.contains("not supported for invoice"),
        "{}",
        err.message
    );
    let err = refused(
        &json!([{"entity_type":"customer"}]),
        EntityType::CreditUsage,
    );
    assert_eq!(
        err.message,
        "export_metadata_fields[0] is missing field_key"
    );
    let err = refused(&json!([{"field_key":"a"}]), EntityType::CreditUsage);
    assert_eq!(
        err.message,
        "export_metadata_fields[0] is missing entity_type"
    );
    let dup = json!([{"entity_type":"customer","field_key":"a"},{"entity_type":"wallet","field_key":"a"}]);
    let err = refused(&dup, EntityType::CreditUsage);
    assert!(err.message.contains("already used"), "{}", err.message);
    // An empty list is fine for every entity (Flexprice's 2026-05-14 regression).
    assert!(parse_for(json!({"export_metadata_fields": []}), EntityType::Events).is_ok());
}

#[test]
fn window_field_depends_on_the_entity() {
    let wf = |v: &str, e| parse_for(json!({"window_field": v}), e).map(|c| c.config.window_field);
    assert_eq!(
        wf("timestamp", EntityType::Events),
        Ok(Some(WindowField::Timestamp))
    );
    assert_eq!(
        wf("created_at", EntityType::Invoice),
        Ok(Some(WindowField::CreatedAt))
    );
    assert!(
        wf("timestamp", EntityType::Invoice)
            .unwrap_err()
            .message
            .contains("updated_at, created_at")
    );
    assert!(
        wf("created_at", EntityType::CreditUsage)
            .unwrap_err()
            .message
            .contains("does not apply")
    );
    let none = parse_for(json!({}), EntityType::CreditUsage).expect("valid");
    assert_eq!(none.config.window_field, None);
}

#[test]
fn prefixes_are_normalised_and_cannot_climb() {
    assert_eq!(
        normalize_prefix("/exports//daily/").as_deref(),
        Ok("exports/daily")
    );
    assert_eq!(normalize_prefix("").as_deref(), Ok(""));
    assert!(normalize_prefix("a/../b").is_err());
    assert!(normalize_prefix("./a").is_err());
    assert!(normalize_prefix("a\\b").is_err());
    assert!(normalize_prefix("a\nb").is_err());
}
