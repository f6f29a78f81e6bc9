"""Who is asking: directory sources (CSV exports, LDAP/AD) and the resolver that consults them."""
