-- Outside references of payments, each owned by one payment: Stripe
-- PaymentIntent ids (a charge or dispute event names only the intent),
-- Stripe webhook event ids (handled once), and Solana transaction
-- signatures (one transaction never pays two payments).
CREATE TABLE payment_refs (
    kind       TEXT NOT NULL,
    reference  TEXT NOT NULL,
    payment_id BLOB NOT NULL,
    PRIMARY KEY (kind, reference)
) WITHOUT ROWID;
