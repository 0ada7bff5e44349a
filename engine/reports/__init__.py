"""Reports: definitions (designed like rules) compiled to SQL over the fact catalogue."""
