-- The invoice date (开票日期, issue 20): a calendar date 'YYYY-MM-DD' as TEXT, like
-- cases.visit_date. NULL when the student left it empty and the photo's QR code gave none
-- (and for invoices from before this migration).
ALTER TABLE invoices ADD COLUMN invoice_date TEXT;
