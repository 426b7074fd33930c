-- Which certificates cover a product: one row per mark batch bound to a GTIN (14 digits), kept
-- by every change in the transaction that writes the certificate's current record, so that a
-- product lookup reads an index instead of every record. The signed record stays the authority:
-- the registry serves a certificate named here only when its confirmed record binds a batch to
-- the GTIN. Filled here from the records stored before.
CREATE TABLE product_certificates (
    gtin   text   COLLATE "C" NOT NULL,
    number text   COLLATE "C" NOT NULL,
    batch  bigint NOT NULL CHECK (batch BETWEEN 0 AND 4294967295),
    PRIMARY KEY (gtin, number, batch)
);

CREATE INDEX product_certificates_number ON product_certificates (number);

INSERT INTO product_certificates (gtin, number, batch)
SELECT b.value ->> 'gtin', c.number, (b.value ->> 'id')::bigint
FROM certificates c
CROSS JOIN LATERAL jsonb_array_elements(c.record::jsonb -> 'mark_batches') AS b(value)
WHERE strpos(c.record, '"gtin"') > 0 AND b.value ->> 'gtin' IS NOT NULL;
