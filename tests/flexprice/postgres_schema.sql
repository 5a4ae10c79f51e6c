-- Flexprice's PostgreSQL tables that exportd reads, for the test server (PostgreSQL 15).
-- Written for exportd's tests from the descriptions in shared/reference/flexprice-databases.md:
-- the columns, types, nullability and defaults listed there; no foreign keys (Flexprice has
-- none between these tables, so joins must tolerate orphans); indexes that start with
-- (tenant_id, environment_id) as Flexprice's do. Columns the reference does not name are
-- plausible fillers, placed between the exported ones so that no reader can rely on
-- column positions.
--
-- Conventions of every table: tenant_id varchar(50) NOT NULL; status varchar(20) NOT NULL
-- DEFAULT 'published' (soft delete: published | deleted | archived); created_at/updated_at
-- timestamptz NOT NULL; created_by/updated_by varchar NULL; environment_id varchar(50)
-- DEFAULT '' and nullable.

CREATE TABLE customers (
    id                  varchar(50)  PRIMARY KEY,
    tenant_id           varchar(50)  NOT NULL,
    status              varchar(20)  NOT NULL DEFAULT 'published',
    created_at          timestamptz  NOT NULL,
    updated_at          timestamptz  NOT NULL,
    created_by          varchar      NULL,
    updated_by          varchar      NULL,
    environment_id      varchar(50)  NULL DEFAULT '',
    external_id         varchar(255) NOT NULL,
    name                varchar(255) NOT NULL,
    email               varchar(255) NULL,
    address_line1       varchar(255) NULL,
    address_line2       varchar(255) NULL,
    address_city        varchar(100) NULL,
    address_state       varchar(100) NULL,
    address_postal_code varchar(20)  NULL,
    address_country     varchar(2)   NULL,
    contact             varchar(20)  NULL,
    parent_customer_id  varchar(50)  NULL,
    timezone            varchar(50)  NULL DEFAULT 'UTC',
    metadata            jsonb        NULL
);
CREATE UNIQUE INDEX customers_tenant_env_external_id ON customers (tenant_id, environment_id, external_id)
    WHERE status = 'published' AND external_id <> '';
CREATE INDEX customers_tenant_env_status ON customers (tenant_id, environment_id, status);

CREATE TABLE wallets (
    id                     varchar(50)   PRIMARY KEY,
    tenant_id              varchar(50)   NOT NULL,
    status                 varchar(20)   NOT NULL DEFAULT 'published',
    created_at             timestamptz   NOT NULL,
    updated_at             timestamptz   NOT NULL,
    created_by             varchar       NULL,
    updated_by             varchar       NULL,
    environment_id         varchar(50)   NULL DEFAULT '',
    customer_id            varchar(50)   NOT NULL,
    currency               varchar(10)   NOT NULL,
    name                   varchar(255)  NULL,
    description            varchar       NULL,
    balance                numeric(20,9) NOT NULL,
    credit_balance         numeric(20,9) NOT NULL,
    conversion_rate        numeric(10,5) NOT NULL,
    topup_conversion_rate  numeric(10,5) NULL,
    wallet_status          varchar(50)   NOT NULL DEFAULT 'active',
    wallet_type            varchar(50)   NOT NULL DEFAULT 'PRE_PAID',
    metadata               jsonb         NULL,
    config                 jsonb         NULL,
    alert_config           jsonb         NULL,
    auto_topup             jsonb         NULL,
    alert_settings         jsonb         NULL,
    auto_topup_min_balance numeric(20,9) NULL,
    auto_topup_amount      numeric(20,9) NULL
);
CREATE INDEX wallets_tenant_env_customer ON wallets (tenant_id, environment_id, customer_id, status);

CREATE TABLE wallet_transactions (
    id                    varchar(50)   PRIMARY KEY,
    tenant_id             varchar(50)   NOT NULL,
    status                varchar(20)   NOT NULL DEFAULT 'published',
    created_at            timestamptz   NOT NULL,
    updated_at            timestamptz   NOT NULL,
    created_by            varchar       NULL,
    updated_by            varchar       NULL,
    environment_id        varchar(50)   NULL DEFAULT '',
    wallet_id             varchar(50)   NOT NULL,
    customer_id           varchar(50)   NULL,
    type                  varchar       NOT NULL DEFAULT 'credit',
    amount                numeric(20,9) NOT NULL,
    credit_amount         numeric(20,9) NOT NULL,
    credits_available     numeric(20,9) NOT NULL,
    credit_balance_before numeric(20,9) NOT NULL,
    credit_balance_after  numeric(20,9) NOT NULL,
    balance_before        numeric(20,9) NULL,
    balance_after         numeric(20,9) NULL,
    amount_used           numeric(20,8) NOT NULL DEFAULT 0,
    transaction_status    varchar(50)   NOT NULL DEFAULT 'pending',
    transaction_reason    varchar(50)   NOT NULL,
    currency              varchar(10)   NOT NULL,
    reference_type        varchar(50)   NULL,
    reference_id          varchar       NULL,
    description           varchar       NULL,
    idempotency_key       varchar       NULL,
    parent_transaction_id varchar(50)   NULL,
    expiry_date           timestamp     NULL, -- without time zone, as Flexprice
    priority              integer       NULL,
    metadata              jsonb         NULL
);
CREATE INDEX wallet_transactions_tenant_env_created ON wallet_transactions (tenant_id, environment_id, created_at);
CREATE INDEX wallet_transactions_tenant_env_wallet ON wallet_transactions (tenant_id, environment_id, wallet_id);

-- 44 columns: the 38 of the invoice export and 6 more (marked "not exported").
CREATE TABLE invoices (
    id                            varchar(50)   PRIMARY KEY,
    tenant_id                     varchar(50)   NOT NULL,
    status                        varchar(20)   NOT NULL DEFAULT 'published',
    created_at                    timestamptz   NOT NULL,
    updated_at                    timestamptz   NOT NULL,
    created_by                    varchar       NULL,
    updated_by                    varchar       NULL,
    environment_id                varchar(50)   NULL DEFAULT '',
    customer_id                   varchar(50)   NOT NULL,
    subscription_id               varchar(50)   NULL,
    invoice_type                  varchar(50)   NOT NULL,
    invoice_status                varchar(50)   NOT NULL DEFAULT 'DRAFT',
    payment_status                varchar(50)   NOT NULL DEFAULT 'PENDING',
    currency                      varchar(10)   NOT NULL,
    amount_due                    numeric(20,8) NOT NULL,
    amount_paid                   numeric(20,8) NOT NULL,
    amount_remaining              numeric(20,8) NOT NULL,
    overpaid_amount               numeric(20,8) NULL,     -- not exported
    subtotal                      numeric(20,8) NULL,
    adjustment_amount             numeric(20,8) NULL,
    refunded_amount               numeric(20,8) NULL,
    total_tax                     numeric(20,8) NULL,
    total_discount                numeric(20,8) NULL,
    total_prepaid_credits_applied numeric(20,8) NULL,     -- not exported
    total                         numeric(20,8) NULL,
    description                   varchar       NULL,
    due_date                      timestamptz   NULL,
    paid_at                       timestamptz   NULL,
    voided_at                     timestamptz   NULL,
    finalized_at                  timestamptz   NULL,
    last_computed_at              timestamptz   NULL,     -- not exported
    billing_period                varchar       NULL,
    period_start                  timestamptz   NULL,
    period_end                    timestamptz   NULL,
    invoice_pdf_url               varchar       NULL,
    billing_reason                varchar       NULL,
    metadata                      jsonb         NULL,
    version                       bigint        NOT NULL DEFAULT 1,
    invoice_number                varchar(50)   NULL,
    billing_sequence              integer       NULL,
    idempotency_key               varchar(100)  NULL,
    recalculated_invoice_id       varchar(50)   NULL,     -- not exported
    collection_method             varchar(50)   NULL,     -- not exported
    hosted_invoice_url            varchar       NULL      -- not exported
);
CREATE INDEX invoices_tenant_customer_status ON invoices (tenant_id, environment_id, customer_id, invoice_status, payment_status, status)
    WHERE status = 'published';
CREATE INDEX invoices_tenant_type_status ON invoices (tenant_id, environment_id, invoice_type, invoice_status, payment_status, status)
    WHERE status = 'published';
CREATE UNIQUE INDEX invoices_tenant_env_number ON invoices (tenant_id, environment_id, invoice_number)
    WHERE invoice_number IS NOT NULL AND invoice_number <> '' AND status = 'published';
CREATE UNIQUE INDEX invoices_tenant_env_idempotency_key ON invoices (tenant_id, environment_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE meters (
    id             varchar(50)  PRIMARY KEY,
    tenant_id      varchar(50)  NOT NULL,
    status         varchar(20)  NOT NULL DEFAULT 'published',
    created_at     timestamptz  NOT NULL,
    updated_at     timestamptz  NOT NULL,
    created_by     varchar      NULL,
    updated_by     varchar      NULL,
    environment_id varchar(50)  NULL DEFAULT '',
    event_name     varchar(255) NOT NULL,
    name           varchar(255) NOT NULL,
    aggregation    jsonb        NOT NULL, -- {"type": COUNT | SUM | AVG | COUNT_UNIQUE | LATEST | SUM_WITH_MULTIPLIER | MAX | WEIGHTED_SUM, "field": ..., "multiplier": ...}
    filters        jsonb        NULL,
    reset_usage    varchar(20)  NOT NULL DEFAULT 'BILLING_PERIOD'
);
CREATE INDEX meters_tenant_env ON meters (tenant_id, environment_id, status);

CREATE TABLE groups (
    id             varchar(50)  PRIMARY KEY,
    tenant_id      varchar(50)  NOT NULL,
    status         varchar(20)  NOT NULL DEFAULT 'published',
    created_at     timestamptz  NOT NULL,
    updated_at     timestamptz  NOT NULL,
    created_by     varchar      NULL,
    updated_by     varchar      NULL,
    environment_id varchar(50)  NULL DEFAULT '',
    name           varchar(255) NOT NULL,
    entity_type    varchar(50)  NOT NULL DEFAULT 'feature',
    lookup_key     varchar(255) NULL,
    metadata       jsonb        NULL
);

CREATE TABLE features (
    id             varchar(50)  PRIMARY KEY,
    tenant_id      varchar(50)  NOT NULL,
    status         varchar(20)  NOT NULL DEFAULT 'published',
    created_at     timestamptz  NOT NULL,
    updated_at     timestamptz  NOT NULL,
    created_by     varchar      NULL,
    updated_by     varchar      NULL,
    environment_id varchar(50)  NULL DEFAULT '',
    lookup_key     varchar(255) NULL,
    name           varchar(255) NOT NULL,
    description    text         NULL,
    type           varchar(50)  NOT NULL, -- metered | boolean | static | config
    meter_id       varchar(50)  NULL,
    group_id       varchar(50)  NULL,
    metadata       jsonb        NULL,
    unit_singular  varchar(50)  NULL,
    unit_plural    varchar(50)  NULL
);
CREATE INDEX features_tenant_env_meter ON features (tenant_id, environment_id, meter_id);

CREATE TABLE prices (
    id                   varchar(50)   PRIMARY KEY,
    tenant_id            varchar(50)   NOT NULL,
    status               varchar(20)   NOT NULL DEFAULT 'published',
    created_at           timestamptz   NOT NULL,
    updated_at           timestamptz   NOT NULL,
    created_by           varchar       NULL,
    updated_by           varchar       NULL,
    environment_id       varchar(50)   NULL DEFAULT '',
    amount               numeric(25,15) NOT NULL,
    display_amount       varchar(255)  NULL,
    currency             varchar(10)   NOT NULL,
    entity_type          varchar(50)   NULL DEFAULT 'PLAN',
    entity_id            varchar(50)   NULL,
    type                 varchar(20)   NOT NULL, -- USAGE | FIXED
    billing_period       varchar(20)   NOT NULL DEFAULT 'MONTHLY',
    billing_period_count integer       NOT NULL DEFAULT 1,
    billing_model        varchar(20)   NOT NULL, -- FLAT_FEE | PACKAGE | TIERED
    billing_cadence      varchar(20)   NOT NULL DEFAULT 'RECURRING',
    invoice_cadence      varchar(20)   NULL,
    tier_mode            varchar(20)   NULL,     -- VOLUME | SLAB
    tiers                jsonb         NULL,
    transform_quantity   jsonb         NULL,     -- PACKAGE: {"divide_by": n, "round": "up"}
    meter_id             varchar(50)   NULL,
    lookup_key           varchar(255)  NULL,
    description          text          NULL,
    metadata             jsonb         NULL
);
CREATE INDEX prices_tenant_env_meter ON prices (tenant_id, environment_id, meter_id);

CREATE TABLE subscriptions (
    id                   varchar(50)  PRIMARY KEY,
    tenant_id            varchar(50)  NOT NULL,
    status               varchar(20)  NOT NULL DEFAULT 'published',
    created_at           timestamptz  NOT NULL,
    updated_at           timestamptz  NOT NULL,
    created_by           varchar      NULL,
    updated_by           varchar      NULL,
    environment_id       varchar(50)  NULL DEFAULT '',
    lookup_key           varchar(255) NULL,
    customer_id          varchar(50)  NOT NULL,
    plan_id              varchar(50)  NOT NULL,
    subscription_status  varchar(50)  NOT NULL DEFAULT 'active',
    currency             varchar(10)  NOT NULL,
    billing_anchor       timestamptz  NOT NULL,
    start_date           timestamptz  NOT NULL,
    end_date             timestamptz  NULL,
    current_period_start timestamptz  NOT NULL,
    current_period_end   timestamptz  NOT NULL,
    cancelled_at         timestamptz  NULL,
    cancel_at            timestamptz  NULL,
    cancel_at_period_end boolean      NOT NULL DEFAULT false,
    trial_start          timestamptz  NULL,
    trial_end            timestamptz  NULL,
    billing_cadence      varchar(20)  NOT NULL DEFAULT 'RECURRING',
    billing_period       varchar(20)  NOT NULL DEFAULT 'MONTHLY',
    billing_period_count integer      NOT NULL DEFAULT 1,
    version              bigint       NOT NULL DEFAULT 1,
    metadata             jsonb        NULL
);
CREATE INDEX subscriptions_tenant_env_customer ON subscriptions (tenant_id, environment_id, customer_id, status);

CREATE TABLE subscription_line_items (
    id                         varchar(50)   PRIMARY KEY,
    tenant_id                  varchar(50)   NOT NULL,
    status                     varchar(20)   NOT NULL DEFAULT 'published',
    created_at                 timestamptz   NOT NULL,
    updated_at                 timestamptz   NOT NULL,
    created_by                 varchar       NULL,
    updated_by                 varchar       NULL,
    environment_id             varchar(50)   NULL DEFAULT '',
    subscription_id            varchar(50)   NOT NULL,
    customer_id                varchar(50)   NOT NULL,
    entity_id                  varchar(50)   NULL,
    entity_type                varchar(50)   NULL DEFAULT 'plan',
    plan_display_name          varchar       NULL,
    price_id                   varchar(50)   NOT NULL,
    price_type                 varchar(50)   NULL,
    meter_id                   varchar(50)   NULL,
    meter_display_name         varchar       NULL,
    display_name               varchar       NULL,
    quantity                   numeric(20,8) NOT NULL DEFAULT 0,
    currency                   varchar(10)   NOT NULL,
    billing_period             varchar(50)   NOT NULL,
    invoice_cadence            varchar(20)   NULL,
    trial_period               integer       NOT NULL DEFAULT 0,
    start_date                 timestamptz   NULL,
    end_date                   timestamptz   NULL,
    commitment_amount          numeric(20,8) NULL,
    commitment_quantity        numeric(20,8) NULL,
    commitment_type            varchar(50)   NULL,
    commitment_overage_factor  numeric(10,4) NULL,
    commitment_true_up_enabled boolean       NOT NULL DEFAULT false,
    commitment_windowed        boolean       NOT NULL DEFAULT false,
    metadata                   jsonb         NULL
);
CREATE INDEX subscription_line_items_tenant_env_subscription ON subscription_line_items (tenant_id, environment_id, subscription_id);
CREATE INDEX subscription_line_items_tenant_env_customer ON subscription_line_items (tenant_id, environment_id, customer_id, meter_id);
