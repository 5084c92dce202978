"""The XLSForms Fieldsync serves to ODK Collect (docs/openrosa.md): definitions and their build script."""
