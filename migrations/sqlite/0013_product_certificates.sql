-- Which certificates cover a product: one row per mark batch bound to a GTIN (14 digits), kept
-- by every change in the transaction that writes the certificate's current record, so that a
-- product lookup reads an index instead of every record. The signed record stays the authority:
-- the registry serves a certificate named here only when its confirmed record binds a batch to
-- the GTIN. Filled here from the records stored before.
CREATE TABLE product_certificates (
    gtin   TEXT    NOT NULL,
    number TEXT    NOT NULL,
    batch  INTEGER NOT NULL,
    PRIMARY KEY (gtin, number, batch)
);

CREATE INDEX product_certificates_number ON product_certificates (number);

INSERT INTO product_certificates (gtin, number, batch)
SELECT json_extract(b.value, '$.gtin'), c.number, json_extract(b.value, '$.id')
FROM certificates c, json_each(c.record, '$.mark_batches') b
WHERE instr(c.record, '"gtin"') > 0 AND json_extract(b.value, '$.gtin') IS NOT NULL;
