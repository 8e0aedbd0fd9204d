"""Who may see what: principals (a role, the collections it may use, the groups it is in), API keys, sign-in
through the company's identity provider (OIDC), and the audit trail of what each principal did."""
