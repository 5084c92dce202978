"""OpenRosa 1.0 intake: ODK Collect, KoboCollect and ODK Web Forms sync into Fieldsync (openrosa.md).

An adapter onto the sync engine, never a second write path:
- `forms`: the XForms served, converted from forms/*.xlsx with pyxform;
- `media`: the form media CSVs (sites, items, services) built from the reference data;
- `instance`: a submitted instance's XML read (defusedxml) into record fields;
- `submission`: the operation that turns an instance into one mutation of `sync.push`;
- `enrolment`: a Collect tablet as an ordinary Fieldsync device, with its settings QR code;
- `responses`: the OpenRosaResponse bodies and the one error type;
- `views`: the thin blueprint under /openrosa/v1/key/<key>/.
"""
