//! exportd's ClickHouse side of the Flexprice source (src/flexprice/clickhouse), called as a
//! library against the real ClickHouse 18.16 of the fixture, through the recording proxy:
//! the rows of both entities rendered as CSV must equal [`expected::csv`] byte for byte, and
//! every query exportd sent must give the same rows on chdb-core with Flexprice's modern DDL.
//! PostgreSQL's part (customers, meters, prices) comes from [`DatasetCatalog`], which answers
//! from the data set as the PostgreSQL source must.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use exportd::flexprice::clickhouse::{
    self as ch, Client, Customer, Customers, Feature, Meter, Request, Settings, TimeField,
    UsageCatalog, UsagePrice, events, sql,
};
use exportd::flexprice::{Cell, ExportError, Failure};

use super::clickhouse::reframe;
use super::dataset::{Dataset, Variant, at, on};
use super::expected::{self, Entity, Export, WindowField};
use super::{ChDb, ChProxy, ChServer, apply_changes, clickhouse};

/// A client of `db` as `user` (the read-only user by default), through `proxy` if given.
fn client(db: &ChDb<'_>, proxy: Option<&ChProxy>, user: &str) -> Client {
    Client::new(Settings {
        url: proxy.map_or_else(|| db.server.url(), ChProxy::url),
        database: db.name.clone(),
        user: user.to_owned(),
        password: Some(db.server.readonly_password().to_owned()),
        max_execution_time: Some(60),
        max_memory_usage: Some(2_000_000_000),
    })
    .expect("a valid client")
}

/// What Flexprice's PostgreSQL says of the data set, for one scope (expected.rs's rules 6-7).
pub(crate) struct DatasetCatalog<'d> {
    ds: &'d Dataset,
    tenant: String,
    env: String,
    /// How many lookups were asked, and for how many ids in all.
    pub lookups: usize,
    pub looked_up: usize,
}

impl<'d> DatasetCatalog<'d> {
    pub(crate) fn new(ds: &'d Dataset, tenant: &str, env: &str) -> DatasetCatalog<'d> {
        DatasetCatalog {
            ds,
            tenant: tenant.to_owned(),
            env: env.to_owned(),
            lookups: 0,
            looked_up: 0,
        }
    }
}

impl Customers for DatasetCatalog<'_> {
    fn by_external_ids(&mut self, external_ids: &[&str]) -> Result<Vec<Customer>, ExportError> {
        assert!(external_ids.len() <= ch::catalog::LOOKUP_BATCH);
        self.lookups += 1;
        self.looked_up += external_ids.len();
        Ok(self
            .ds
            .customers
            .iter()
            .filter(|c| {
                c.base.in_scope(&self.tenant, &self.env)
                    && c.base.published()
                    && external_ids.contains(&c.external_id.as_str())
            })
            .map(|c| Customer {
                external_id: c.external_id.clone(),
                id: c.base.id.clone(),
                name: c.name.clone(),
                metadata: c
                    .metadata
                    .as_ref()
                    .map(|m| serde_json::to_string(m).unwrap()),
            })
            .collect())
    }
}

impl UsageCatalog for DatasetCatalog<'_> {
    fn meters(&mut self, ids: &[&str]) -> Result<HashMap<String, Meter>, ExportError> {
        let ds = self.ds;
        Ok(ds
            .meters
            .iter()
            .filter(|m| m.base.tenant_id == self.tenant && ids.contains(&m.base.id.as_str()))
            .map(|m| {
                let feature = ds.features.iter().find(|f| {
                    f.base.in_scope(&self.tenant, &self.env)
                        && f.base.published()
                        && f.meter_id.as_deref() == Some(m.base.id.as_str())
                });
                let feature = feature.map(|f| Feature {
                    id: f.base.id.clone(),
                    name: f.name.clone(),
                    group_name: f.group_id.as_deref().and_then(|g| {
                        ds.groups
                            .iter()
                            .find(|x| x.base.id == g && x.base.published())
                            .map(|x| x.name.clone())
                    }),
                });
                let meter = Meter {
                    id: m.base.id.clone(),
                    event_name: m.event_name.clone(),
                    aggregation: m.aggregation.clone(),
                    feature,
                };
                (m.base.id.clone(), meter)
            })
            .collect())
    }

    fn prices(
        &mut self,
        customer_ids: &[&str],
    ) -> Result<HashMap<(String, String), UsagePrice>, ExportError> {
        let ds = self.ds;
        let mut out = HashMap::new();
        let meters = ds.meters.iter().filter(|m| m.base.tenant_id == self.tenant);
        for meter in meters {
            for customer in customer_ids {
                let id = meter.base.id.as_str();
                let Some(l) = expected::line_item(ds, &self.tenant, &self.env, customer, id) else {
                    continue;
                };
                let Some(p) = ds.prices.iter().find(|p| p.base.id == l.price_id) else {
                    continue;
                };
                let per_unit = p.kind == "USAGE"
                    && p.billing_model == "FLAT_FEE"
                    && l.commitment_amount.is_none();
                let price = UsagePrice {
                    currency: p.currency.clone(),
                    unit_amount: per_unit.then_some(p.amount),
                };
                out.insert(((*customer).to_owned(), id.to_owned()), price);
            }
        }
        Ok(out)
    }
}

fn request<'e>(export: &'e Export) -> Request<'e> {
    Request {
        tenant_id: &export.tenant,
        environment_id: &export.env,
        window: (export.start.as_millisecond(), export.end.as_millisecond()),
        field: match export.field() {
            WindowField::Timestamp => TimeField::Timestamp,
            _ => TimeField::IngestedAt,
        },
    }
}

/// Exports `export` with exportd's ClickHouse code: the CSV file exportd writes, or the error.
fn export_bytes(client: &Client, ds: &Dataset, export: &Export) -> Result<Vec<u8>, ExportError> {
    let req = request(export);
    let mut catalog = DatasetCatalog::new(ds, &export.tenant, &export.env);
    let metadata = super::source_pg::metadata(export);
    let cancel = AtomicBool::new(false);
    let entity = match export.entity {
        Entity::Events => ch::Entity::Events,
        Entity::UsageAnalytics => ch::Entity::UsageAnalytics,
        other => panic!("{other:?} is not read from ClickHouse"),
    };
    let mut rows = 0;
    let bytes = ch::csv(entity, &metadata, |out| {
        rows = ch::export(client, entity, &req, &metadata, &mut catalog, out, &cancel)?;
        Ok(rows)
    })?;
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    assert!(lines > rows, "{lines} lines for {rows} rows and a header");
    Ok(bytes)
}

/// The rows of the export (header left out), as CSV cells.
fn export_rows(
    client: &Client,
    ds: &Dataset,
    export: &Export,
) -> Result<Vec<Vec<String>>, ExportError> {
    let bytes = export_bytes(client, ds, export)?;
    let rows = csv::Reader::from_reader(&bytes[..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    Ok(rows)
}

/// The export as the CSV object exportd writes: the header, then the rows.
fn export_csv(client: &Client, ds: &Dataset, export: &Export) -> String {
    let bytes =
        export_bytes(client, ds, export).unwrap_or_else(|e| panic!("{export:?} failed: {e}"));
    String::from_utf8(bytes).unwrap()
}

/// The windows and scopes every golden test below goes through.
pub(super) fn exports(entity: Entity, variant: Variant) -> Vec<Export> {
    let mut out = Vec::new();
    for (tenant, env) in super::dataset::SCOPES {
        for (start, end) in [
            ("10:00:00", "11:00:00"),
            ("11:00:00", "12:00:00"),
            ("12:00:00", "13:00:00"),
        ] {
            for field in [WindowField::IngestedAt, WindowField::Timestamp] {
                let mut e = Export::new(entity, tenant, env, start, end)
                    .window_field(field)
                    .variant(variant);
                if entity == Entity::UsageAnalytics {
                    e = e.metadata("customer", "tier", Some("Tier")).metadata(
                        "wallet",
                        "cost_center",
                        None,
                    );
                }
                out.push(e);
            }
        }
    }
    // The day before (another partition), and a window with nothing in it.
    out.push(
        Export::window(
            entity,
            "acme",
            "prod",
            on("2025-10-15", "23:00:00"),
            at("00:00:10"),
        )
        .variant(variant),
    );
    out.push(
        Export::window(
            entity,
            "acme",
            "prod",
            on("2025-10-14", "00:00:00"),
            on("2025-10-14", "01:00:00"),
        )
        .variant(variant),
    );
    out
}

/// Every export of `entity` on both variants, before and after the data set's later rows,
/// equals the expected CSV; every query is replayed on chdb.
fn golden(test: &str, entity: Entity) {
    let Some(server) = clickhouse(test) else {
        return;
    };
    for variant in Variant::ALL {
        let mut ds = Dataset::standard();
        let db = server.database_with(variant, &ds);
        let proxy = server.proxy();
        let client = client(&db, Some(&proxy), ChServer::READONLY_USER);
        let mut checked = 0;
        for export in exports(entity, variant) {
            let got = export_csv(&client, &ds, &export);
            assert_eq!(got, expected::csv(&ds, &export), "{export:?}");
            checked += expected::rows(&ds, &export).len();
        }
        apply_changes(&mut ds, None, Some(&db));
        for export in exports(entity, variant) {
            let got = export_csv(&client, &ds, &export);
            assert_eq!(
                got,
                expected::csv(&ds, &export),
                "after the changes: {export:?}"
            );
        }
        assert!(checked > 100, "{checked} rows only");
        let compared = db.assert_same_on_chdb(test, &proxy.queries());
        if let Some(compared) = compared {
            assert!(compared >= exports(entity, variant).len() * 2, "{compared}");
        }
    }
}

#[test]
fn flexprice_ch_events_equal_the_expected_csv_on_both_variants() {
    golden(
        "flexprice_ch_events_equal_the_expected_csv_on_both_variants",
        Entity::Events,
    );
}

#[test]
fn flexprice_ch_usage_analytics_equal_the_expected_csv_on_both_variants() {
    golden(
        "flexprice_ch_usage_analytics_equal_the_expected_csv_on_both_variants",
        Entity::UsageAnalytics,
    );
}

#[test]
fn flexprice_ch_the_windows_hold_the_boundary_late_and_newest_rows() {
    let test = "flexprice_ch_the_windows_hold_the_boundary_late_and_newest_rows";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let ds = Dataset::standard();
    let db = server.database_with(Variant::Dev, &ds);
    let client = client(&db, None, ChServer::READONLY_USER);
    let ids = |start: &str, end: &str, field: WindowField| -> Vec<(String, String)> {
        let e = Export::new(Entity::Events, "acme", "prod", start, end).window_field(field);
        export_rows(&client, &ds, &e)
            .unwrap()
            .into_iter()
            .map(|r| (r[0].clone(), r[15].clone()))
            .collect()
    };
    let has = |rows: &[(String, String)], id: &str| rows.iter().any(|(i, _)| i == id);
    let w10 = ids("10:00:00", "11:00:00", WindowField::IngestedAt);
    let w11 = ids("11:00:00", "12:00:00", WindowField::IngestedAt);
    let w12 = ids("12:00:00", "13:00:00", WindowField::IngestedAt);
    assert!(has(&w10, "evt-002"), "ingested exactly at 10:00");
    assert!(
        !has(&w10, "evt-003") && has(&w11, "evt-003"),
        "ingested exactly at 11:00"
    );
    assert!(
        !has(&w10, "evt-006") && has(&w11, "evt-006"),
        "its newest version is in 11:00"
    );
    let evt005: Vec<_> = w10.iter().filter(|(i, _)| i == "evt-005").collect();
    assert_eq!(evt005.len(), 1, "one row for three versions");
    assert_eq!(evt005[0].1, "4.25", "the newest version");
    assert!(
        has(&w12, "evt-019") && !has(&w10, "evt-019"),
        "late row by ingested_at"
    );
    let t10 = ids("10:00:00", "11:00:00", WindowField::Timestamp);
    assert!(
        has(&t10, "evt-019") && has(&t10, "evt-003"),
        "by event time"
    );
    assert_eq!(
        w10.iter().filter(|(i, _)| i == "evt-001").count(),
        2,
        "one row per meter"
    );
}

#[test]
fn flexprice_ch_detects_the_server_and_both_schema_variants() {
    let test = "flexprice_ch_detects_the_server_and_both_schema_variants";
    let Some(server) = clickhouse(test) else {
        return;
    };
    for (variant, want) in [
        (Variant::Dev, ch::Variant::Dev),
        (Variant::Prod, ch::Variant::Prod),
    ] {
        let db = server.database(variant);
        let info = ch::inspect(&client(&db, None, ChServer::READONLY_USER)).unwrap();
        assert!(info.version.text.starts_with("18.16"), "{}", info.version);
        assert_eq!(info.version.major, 18);
        assert_eq!(info.schema.variant, want);
        assert_eq!(info.schema.ingested_at, sql::TimeColumn::Seconds);
        assert!(info.schema.has_events_table);
    }
    // A database without Flexprice's tables: a terminal error that says so.
    let db = server.database(Variant::Dev);
    db.execute(&format!("DROP TABLE {}.meter_usage", db.name));
    let e = ch::inspect(&client(&db, None, ChServer::READONLY_USER)).unwrap_err();
    assert_eq!(e.kind, Failure::Terminal);
    assert!(
        e.summary.contains("meter_usage does not exist"),
        "{}",
        e.summary
    );
}

#[test]
fn flexprice_ch_string_literals_survive_every_byte_on_18_16() {
    let test = "flexprice_ch_string_literals_survive_every_byte_on_18_16";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let db = server.database(Variant::Dev);
    let proxy = server.proxy();
    let client = client(&db, Some(&proxy), ChServer::READONLY_USER);
    let all_ascii: String = (0u8..=127).map(char::from).collect();
    let values = [
        all_ascii.as_str(),
        "a'b",
        "a\\'b",
        "a\\\\'b",
        "\\",
        "'",
        "\n",
        "\0",
        "\\N",
        "x' OR '1'='1",
        "x\\' OR 1=1 --",
        "ü€😀\u{202e}",
        "tab\there",
        "",
    ];
    for value in values {
        let select = format!(
            "SELECT 0 AS exportd_end, {} AS v",
            sql::string_literal(value)
        );
        let q = sql::sealed(&select, "SELECT 1, ''", "");
        let mut rows = client.query(&q, 2).unwrap();
        let row = rows.next_row().unwrap().expect("one row");
        assert_eq!(row.get(1), Some(value), "{value:?}");
        assert!(rows.next_row().unwrap().is_none());
    }
    db.assert_same_on_chdb(test, &proxy.queries());
}

#[test]
fn flexprice_ch_hostile_tenant_and_environment_ids_match_exactly() {
    let test = "flexprice_ch_hostile_tenant_and_environment_ids_match_exactly";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let db = server.database(Variant::Prod);
    // Tenants that differ only in escaping, or would end a badly escaped literal.
    let tenants = [
        "a'b",
        "a\\'b",
        "a\\\\'b",
        "a\\b",
        "a\nb",
        "a\\nb",
        "a\0b",
        "a\\0b",
        "ü'\t€",
        "\\N",
        "' OR 1=1 --",
        "x",
    ];
    let mut ds = Dataset::default();
    for (n, tenant) in tenants.iter().enumerate() {
        for env in ["env'1", "env\\'1"] {
            ds.meter_usage.push(super::dataset::MeterUsage {
                id: format!("evt-{n}-{}", env.len()),
                tenant_id: (*tenant).to_owned(),
                environment_id: env.to_owned(),
                external_customer_id: format!("c'{n}\\"),
                meter_id: "m'1".into(),
                // Data that looks like a ClickHouse error, or an end row, is data.
                event_name: "Code: 396, e.displayText() = DB::Exception: x".into(),
                timestamp: at("10:10:00"),
                ingested_at: at("10:10:01"),
                qty_total: super::dataset::dec("1.5"),
                unique_hash: format!("h\n1\t{n}\nCode: 60. DB::Exception"),
                source: "s\\t".into(),
                properties: "{\"k\":\"v'\\\\\"}".into(),
                batch: 0,
            });
        }
    }
    db.load(&ds);
    let proxy = server.proxy();
    let client = client(&db, Some(&proxy), ChServer::READONLY_USER);
    for tenant in tenants {
        for env in ["env'1", "env\\'1"] {
            let export = Export::new(Entity::Events, tenant, env, "10:00:00", "11:00:00")
                .variant(Variant::Prod);
            let rows = export_rows(&client, &ds, &export).unwrap();
            assert_eq!(rows.len(), 1, "{tenant:?}/{env:?}");
            assert_eq!(
                export_csv(&client, &ds, &export),
                expected::csv(&ds, &export)
            );
        }
    }
    db.assert_same_on_chdb(test, &proxy.queries());
}

#[test]
fn flexprice_ch_nullable_columns_read_as_null() {
    let test = "flexprice_ch_nullable_columns_read_as_null";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let ds = Dataset::standard();
    let db = server.database_with(Variant::Prod, &ds);
    let proxy = server.proxy();
    let client = client(&db, Some(&proxy), ChServer::READONLY_USER);
    let q = sql::sealed(
        "SELECT 0 AS exportd_end, id, external_customer_id, event_name, customer_id, source, properties\nFROM events FINAL\nWHERE tenant_id = 'acme' AND environment_id = 'prod'",
        "SELECT 1, '', '', '', '', '', ''",
        "id",
    );
    let mut rows = client.query(&q, 7).unwrap();
    let mut got = Vec::new();
    while let Some(row) = rows.next_row().unwrap() {
        got.push(
            (1..7)
                .map(|i| row.get(i).map(str::to_owned))
                .collect::<Vec<_>>(),
        );
    }
    let mut want: Vec<Vec<Option<String>>> = ds
        .events
        .iter()
        .filter(|e| e.tenant_id == "acme" && e.environment_id == "prod")
        .map(|e| {
            vec![
                Some(e.id.clone()),
                e.external_customer_id.clone(),
                e.event_name.clone(),
                e.customer_id.clone(),
                e.source.clone(),
                e.properties.clone(),
            ]
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        got.iter().any(|r| r[1].is_none() && r[5].is_none()),
        "NULLs in the data"
    );
    db.assert_same_on_chdb(test, &proxy.queries());
}

/// Rows generated by ClickHouse for acme/prod: event times spread over 10:00-11:00, each
/// ingested up to 4 s later (so all of them are in 10:00-11:01).
pub(super) const BULK: u64 = 30_000;

pub(super) fn bulk_database(server: &ChServer) -> ChDb<'_> {
    let db = server.database(Variant::Dev);
    db.bulk_meter_usage("big", "acme", "prod", BULK, at("10:00:00"), at("11:00:00"));
    db
}

/// A bulk window: rows past several batches, each customer looked up once, in order.
#[test]
fn flexprice_ch_a_large_window_streams_in_order_with_batched_lookups() {
    let test = "flexprice_ch_a_large_window_streams_in_order_with_batched_lookups";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let db = bulk_database(server);
    let customers = (0..1000)
        .filter(|n| n % 2 == 0)
        .map(|n| super::dataset::Customer {
            base: super::dataset::Base {
                id: format!("cus_bulk_{n}"),
                tenant_id: "acme".into(),
                environment_id: Some("prod".into()),
                status: "published".into(),
                created_at: at("09:00:00"),
                updated_at: at("09:00:00"),
                created_by: None,
                updated_by: None,
            },
            external_id: format!("bulk-{n}"),
            name: format!("Bulk {n}"),
            email: None,
            metadata: None,
        })
        .collect();
    let ds = Dataset {
        customers,
        ..Dataset::default()
    };
    let client = client(&db, None, ChServer::READONLY_USER);
    let server = ch::inspect(&client).unwrap();
    let export = Export::new(Entity::Events, "acme", "prod", "10:00:00", "11:01:00");
    let mut catalog = DatasetCatalog::new(&ds, "acme", "prod");
    let mut last: Option<(i64, String, String)> = None;
    let mut count = 0u64;
    let mut with_customer = 0u64;
    let n = events::export(
        &client,
        &server,
        &request(&export),
        &mut catalog,
        &mut |cells: &[Cell<'_>]| {
            let (Cell::TimeMs(t), Cell::Text(id), Cell::Text(meter)) =
                (cells[13], cells[0], cells[8])
            else {
                panic!("{cells:?}");
            };
            let key = (t, id.to_owned(), meter.to_owned());
            assert!(
                last.as_ref().is_none_or(|l| *l < key),
                "{last:?} then {key:?}"
            );
            last = Some(key);
            let Cell::Text(external) = cells[3] else {
                panic!()
            };
            let number: u32 = external.trim_start_matches("bulk-").parse().unwrap();
            match cells[4] {
                Cell::Text(c) => {
                    assert_eq!(c, format!("cus_bulk_{number}"));
                    with_customer += 1;
                }
                Cell::Null => assert_eq!(number % 2, 1, "{external} is known"),
                ref other => panic!("{other:?}"),
            }
            count += 1;
            Ok(())
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!((n, count), (BULK, BULK));
    assert_eq!(with_customer, BULK / 2);
    assert_eq!(catalog.looked_up, 1000, "each external id once");
    assert!(catalog.lookups <= 10, "{} lookups", catalog.lookups);
}

#[test]
fn flexprice_ch_an_error_in_mid_stream_fails_the_export_after_rows_were_written() {
    let test = "flexprice_ch_an_error_in_mid_stream_fails_the_export_after_rows_were_written";
    if clickhouse(test).is_none() {
        return;
    }
    // A server of its own: the test raises its limited user's limit.
    let own = ChServer::start_own().expect("clickhouse-server");
    let db = bulk_database(&own);
    let ds = Dataset::default();
    let export = Export::new(Entity::Events, "acme", "prod", "10:00:00", "11:01:00");
    let limited = client(&db, None, ChServer::LIMITED_USER);
    let server = ch::inspect(&limited).unwrap();
    let mut written = 0;
    let e = events::export(
        &limited,
        &server,
        &request(&export),
        &mut DatasetCatalog::new(&ds, "acme", "prod"),
        &mut |_: &[Cell<'_>]| {
            written += 1;
            Ok(())
        },
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert_eq!(e.kind, Failure::Retryable, "{e}");
    assert!(
        e.summary.contains("mid-stream") && e.summary.contains("code 396"),
        "{e}"
    );
    assert!(e.summary.contains("nothing was stored"), "{e}");
    // The stream had begun: rows went to the writer before the error (which is why the
    // caller must abort the upload rather than keep what it has).
    assert!(written >= 4096, "{written}");
    assert!(written < BULK, "{written}");
    // Once the operator raises the limit, the same export is whole.
    own.set_limited_rows(BULK * 2);
    let full = export_rows(&limited, &ds, &export).unwrap();
    assert_eq!(full.len() as u64, BULK);
}

#[test]
fn flexprice_ch_a_cut_response_is_never_a_shorter_export() {
    let test = "flexprice_ch_a_cut_response_is_never_a_shorter_export";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let ds = Dataset::standard();
    let db = server.database_with(Variant::Dev, &ds);
    let proxy = server.proxy();
    let client = client(&db, Some(&proxy), ChServer::READONLY_USER);
    // By event time: one query (by ingested_at, a small query of the days comes first).
    let export = Export::new(Entity::Events, "acme", "prod", "10:00:00", "11:00:00")
        .window_field(WindowField::Timestamp);
    let whole = export_rows(&client, &ds, &export).unwrap();
    assert!(whole.len() > 20);
    // The raw response of the events query, to cut it at every row boundary and in between:
    // as ClickHouse frames it (chunked), and as a buffering proxy might (the body ends with
    // the connection, so a cut at a row boundary looks like a whole answer to HTTP).
    let server = ch::inspect(&client).unwrap();
    let selection = ch::window::select(&client, &server, &request(&export), false)
        .unwrap()
        .unwrap();
    let sql = events::query(&selection.condition, TimeField::Timestamp);
    let chunked = raw_response(&db, &sql);
    for (framing, raw) in [
        ("chunked", chunked.clone()),
        ("close-delimited", reframe(&chunked)),
    ] {
        proxy.close_delimited(framing == "close-delimited");
        let head = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut cuts: Vec<usize> = raw
            .iter()
            .enumerate()
            .filter(|(i, b)| **b == b'\n' && *i >= head)
            .map(|(i, _)| i + 1)
            .collect();
        cuts.extend((0..raw.len()).step_by(97));
        cuts.retain(|c| *c < raw.len());
        cuts.sort_unstable();
        cuts.dedup();
        assert!(cuts.len() > whole.len(), "{}", cuts.len());
        for cut in cuts {
            // Only the events query's answer is cut: the server is inspected before.
            let server = ch::inspect(&client).unwrap();
            proxy.cut_responses_after(Some(cut));
            let mut rows = 0;
            let result = events::export(
                &client,
                &server,
                &request(&export),
                &mut DatasetCatalog::new(&ds, "acme", "prod"),
                &mut |_: &[Cell<'_>]| {
                    rows += 1;
                    Ok(())
                },
                &AtomicBool::new(false),
            );
            proxy.cut_responses_after(None);
            let e = result.expect_err(&format!(
                "a {framing} response cut at {cut} of {} bytes gave {rows} rows",
                raw.len()
            ));
            assert_eq!(e.kind, Failure::Retryable, "{framing} cut at {cut}: {e}");
        }
        // Uncut, the re-framed answer is whole.
        assert_eq!(
            export_rows(&client, &ds, &export).unwrap(),
            whole,
            "{framing}"
        );
    }
    proxy.close_delimited(false);
    assert_eq!(export_rows(&client, &ds, &export).unwrap(), whole);
}

/// The bytes ClickHouse answers to `sql` (head and chunked body), as the proxy relays them.
fn raw_response(db: &ChDb<'_>, sql: &str) -> Vec<u8> {
    use base64::Engine;
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", db.server.http_port)).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        ChServer::READONLY_USER,
        db.server.readonly_password()
    ));
    write!(
        s,
        "POST /?database={} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sql}",
        db.name,
        sql.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    raw
}

#[test]
fn flexprice_ch_failures_say_what_to_fix() {
    let test = "flexprice_ch_failures_say_what_to_fix";
    let Some(server) = clickhouse(test) else {
        return;
    };
    let db = server.database(Variant::Dev);
    let mut settings = client(&db, None, ChServer::READONLY_USER)
        .settings()
        .clone();
    let with = |f: &dyn Fn(&mut Settings)| {
        let mut s = settings.clone();
        f(&mut s);
        ch::inspect(&Client::new(s).unwrap()).unwrap_err()
    };
    let e = with(&|s| s.password = Some("wrong".into()));
    assert_eq!(e.kind, Failure::Terminal);
    assert!(e.summary.contains("clickhouse_password_env"), "{e}");
    assert!(
        !e.summary.contains("wrong") && !e.detail.contains("wrong"),
        "{e}"
    );
    let e = with(&|s| s.database = "no_such_db".into());
    assert_eq!(e.kind, Failure::Terminal);
    assert!(e.summary.contains("clickhouse_database"), "{e}");
    let e = with(&|s| s.max_memory_usage = Some(1));
    assert_eq!(e.kind, Failure::Retryable, "{e}");
    // Nothing listens: retryable, and says where it tried.
    let port = super::free_port();
    settings.url = format!("http://127.0.0.1:{port}");
    let e = ch::inspect(&Client::new(settings).unwrap()).unwrap_err();
    assert_eq!(e.kind, Failure::Retryable);
    assert!(e.summary.contains(&format!("127.0.0.1:{port}")), "{e}");
}

/// What exportd sends only to modern servers (never to 18.16) is valid there: the settings of
/// its reads, and a window bound with milliseconds on a `DateTime64(3)` column.
#[test]
fn flexprice_ch_sql_for_modern_servers_only_runs_on_chdb() {
    let test = "flexprice_ch_sql_for_modern_servers_only_runs_on_chdb";
    let server = ch::ServerInfo {
        version: ch::Version::parse("26.3.1").unwrap(),
        schema: ch::Schema {
            variant: ch::Variant::Prod,
            timestamp: sql::TimeColumn::Seconds,
            ingested_at: sql::TimeColumn::SubSecond,
            has_events_table: true,
        },
    };
    let settings: Vec<String> = server
        .read_settings()
        .iter()
        .map(|(k, v)| format!("{k} = {}", sql::string_literal(v)))
        .collect();
    assert!(!settings.is_empty());
    let bound = sql::time_bound(
        at("10:00:00.250").as_millisecond(),
        sql::TimeColumn::SubSecond,
    );
    let queries = [
        format!("SELECT NULL, 'a\\nb' SETTINGS {}", settings.join(", ")),
        format!("SELECT toDateTime64('2025-10-16 10:00:00.250', 3, 'UTC') >= {bound}"),
        format!("SELECT toDateTime64('2025-10-16 10:00:00.249', 3, 'UTC') >= {bound}"),
    ];
    let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
    let Some(results) = super::clickhouse::on_chdb_only(test, &queries) else {
        return;
    };
    let results: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")).trim().to_owned())
        .collect();
    // NULL as \N, and an escaped newline in a field, with the settings in force.
    assert_eq!(results, ["\\N\ta\\nb", "1", "0"]);
}
