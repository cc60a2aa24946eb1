-- What the QR code on an invoice's photo says (issue 20), read when the photo is uploaded:
-- its form (VAT invoice, fiscal e-receipt, URL, other text), code, number, amount on the QR in
-- cents, date (YYYY-MM-DD), check code and the raw text. All NULL when the photo has no
-- readable code (or is a PDF). Replaced whenever the photo is.
ALTER TABLE invoices ADD COLUMN qr_kind TEXT CHECK (qr_kind IN ('vat', 'fiscal', 'url', 'other'));
ALTER TABLE invoices ADD COLUMN qr_code TEXT;
ALTER TABLE invoices ADD COLUMN qr_number TEXT;
ALTER TABLE invoices ADD COLUMN qr_amount_cents BIGINT;
ALTER TABLE invoices ADD COLUMN qr_date TEXT;
ALTER TABLE invoices ADD COLUMN qr_check_code TEXT;
ALTER TABLE invoices ADD COLUMN qr_raw TEXT;
-- Duplicate detection also looks the QR number up.
CREATE INDEX invoices_qr_number_idx ON invoices (qr_number);
