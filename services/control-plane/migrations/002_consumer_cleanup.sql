-- Consumers of deleted destinations that JetStream may still hold (decision 0017). A row is
-- written in the transaction that deletes the destination (or its pipe) and removed once the
-- consumer is gone; the reconcile deletes the consumers the deletion could not.
CREATE TABLE consumer_cleanup (
  destination_id  uuid PRIMARY KEY,
  deleted_at      timestamptz NOT NULL DEFAULT now()
);
