"""Request plumbing: authentication, body decoding, compression, headers, errors, transactions, i18n, metrics,
rate limits, the request log and the gunicorn worker."""
