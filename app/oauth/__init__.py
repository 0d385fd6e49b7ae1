"""The OAuth 2 authorization server's own data: clients, tokens, codes, scopes, and the
registration of clients (the consent-bound grants are the consent package's)."""
