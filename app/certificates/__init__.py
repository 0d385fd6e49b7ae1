"""信用等级证书 (grade certificates): the evaluation procedure — a firm applies (申报), the
evaluation runs, the result is published for a notice period (公示) in which anyone signed in
may object, then the certificate is issued (发证) with a number, a validity, an annual review,
a QR code and a PDF; it is suspended or revoked when the firm's standing no longer supports it
(the black list, a grade fall beyond the configured rule), and anyone may verify it."""
