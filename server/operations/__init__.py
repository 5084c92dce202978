"""What coordinators, admins and readers do: accounts, reference admin, audit, the public page, line lists, the
pull, signing, demo data."""
