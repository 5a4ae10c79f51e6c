-- exportd schema v4: the embedded billing ledger (SPEC 7). Money and quantities are decimal
-- strings (never floating point); timestamps are UTC milliseconds. Every row is scoped by
-- tenant_id and environment_id.

CREATE TABLE customers (
    id              TEXT PRIMARY KEY,          -- cust_<ULID>
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    email           TEXT,
    metadata        TEXT,                      -- JSON object of strings, NULL when not given
    status          TEXT NOT NULL DEFAULT 'published',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    updated_by      TEXT NOT NULL,
    UNIQUE (tenant_id, environment_id, external_id)
);

CREATE TABLE wallets (
    id              TEXT PRIMARY KEY,          -- wallet_<ULID>
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    currency        TEXT NOT NULL,             -- ISO 4217, upper case
    name            TEXT NOT NULL DEFAULT '',
    metadata        TEXT,
    balance         TEXT NOT NULL DEFAULT '0', -- decimal
    wallet_status   TEXT NOT NULL DEFAULT 'active',
    status          TEXT NOT NULL DEFAULT 'published',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX wallets_customer ON wallets (tenant_id, environment_id, customer_id);

CREATE TABLE wallet_transactions (
    id                  TEXT PRIMARY KEY,      -- wtx_<ULID>
    tenant_id           TEXT NOT NULL,
    environment_id      TEXT NOT NULL,
    wallet_id           TEXT NOT NULL REFERENCES wallets (id),
    type                TEXT NOT NULL CHECK (type IN ('credit', 'debit')),
    amount              TEXT NOT NULL,         -- decimal, > 0
    balance_before      TEXT NOT NULL,
    balance_after       TEXT NOT NULL,
    reference_id        TEXT,
    transaction_reason  TEXT NOT NULL,
    transaction_status  TEXT NOT NULL DEFAULT 'completed',
    idempotency_key     TEXT,
    status              TEXT NOT NULL DEFAULT 'published',
    created_at          INTEGER NOT NULL,
    created_by          TEXT NOT NULL,
    UNIQUE (wallet_id, idempotency_key)
);
CREATE INDEX wallet_transactions_time ON wallet_transactions (tenant_id, environment_id, created_at, id);
CREATE INDEX wallet_transactions_wallet ON wallet_transactions (wallet_id, created_at, id);

CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,    -- subs_<ULID>
    tenant_id             TEXT NOT NULL,
    environment_id        TEXT NOT NULL,
    customer_id           TEXT NOT NULL REFERENCES customers (id),
    currency              TEXT NOT NULL,
    billing_period        TEXT NOT NULL CHECK (billing_period IN ('DAILY', 'WEEKLY', 'MONTHLY', 'QUARTERLY', 'HALF_YEARLY', 'ANNUAL')),
    billing_period_count  INTEGER NOT NULL DEFAULT 1,
    start_date            INTEGER NOT NULL,
    billing_anchor        INTEGER NOT NULL,
    recurring_amount      TEXT NOT NULL,       -- decimal, >= 0
    cancel_at             INTEGER,
    current_period_start  INTEGER,             -- filled by the billing-period job (issue 6)
    current_period_end    INTEGER,
    subscription_status   TEXT NOT NULL DEFAULT 'active',
    metadata              TEXT,
    status                TEXT NOT NULL DEFAULT 'published',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    created_by            TEXT NOT NULL,
    updated_by            TEXT NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (tenant_id, environment_id, customer_id);

CREATE TABLE invoices (
    id                 TEXT PRIMARY KEY,       -- inv_<ULID>
    tenant_id          TEXT NOT NULL,
    environment_id     TEXT NOT NULL,
    customer_id        TEXT NOT NULL REFERENCES customers (id),
    subscription_id    TEXT REFERENCES subscriptions (id),
    invoice_number     TEXT NOT NULL,          -- INV-000001, sequential per environment
    invoice_type       TEXT NOT NULL,          -- ONE_OFF | SUBSCRIPTION | CREDIT
    invoice_status     TEXT NOT NULL,          -- DRAFT | FINALIZED | VOIDED | SKIPPED
    payment_status     TEXT NOT NULL,          -- PENDING | SUCCEEDED | ... (Flexprice's values)
    currency           TEXT NOT NULL,
    amount_due         TEXT NOT NULL,
    amount_paid        TEXT NOT NULL DEFAULT '0',
    amount_remaining   TEXT NOT NULL,
    subtotal           TEXT NOT NULL,
    total              TEXT NOT NULL,
    total_discount     TEXT NOT NULL DEFAULT '0',
    total_tax          TEXT NOT NULL DEFAULT '0',
    adjustment_amount  TEXT NOT NULL DEFAULT '0',
    refunded_amount    TEXT NOT NULL DEFAULT '0',
    billing_sequence   INTEGER,
    description        TEXT,
    due_date           INTEGER,
    paid_at            INTEGER,
    voided_at          INTEGER,
    finalized_at       INTEGER,
    billing_period     TEXT,
    period_start       INTEGER,
    period_end         INTEGER,
    invoice_pdf_url    TEXT,
    billing_reason     TEXT NOT NULL,          -- MANUAL | SUBSCRIPTION_CYCLE | ...
    metadata           TEXT,
    idempotency_key    TEXT,
    version            INTEGER NOT NULL DEFAULT 1,
    status             TEXT NOT NULL DEFAULT 'published',
    created_by         TEXT NOT NULL,
    updated_by         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (tenant_id, environment_id, invoice_number),
    UNIQUE (tenant_id, environment_id, idempotency_key)
);
CREATE INDEX invoices_updated ON invoices (tenant_id, environment_id, updated_at, id);
CREATE INDEX invoices_created ON invoices (tenant_id, environment_id, created_at, id);
CREATE INDEX invoices_customer ON invoices (tenant_id, environment_id, customer_id);

CREATE TABLE invoice_line_items (
    id              TEXT PRIMARY KEY,          -- inli_<ULID>
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    display_name    TEXT NOT NULL DEFAULT '',
    amount          TEXT NOT NULL,
    quantity        TEXT NOT NULL DEFAULT '1',
    meter_id        TEXT,
    period_start    INTEGER,
    period_end      INTEGER,
    metadata        TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX invoice_line_items_invoice ON invoice_line_items (invoice_id);

-- The last invoice number given in each environment.
CREATE TABLE invoice_sequences (
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    last_number     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, environment_id)
);
