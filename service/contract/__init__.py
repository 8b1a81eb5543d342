"""What every answer is made of: Folio's errors and their envelope, the wire models' base, page
cursors, versions and conditional requests (ETags)."""
