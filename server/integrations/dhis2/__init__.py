"""DHIS2 reporting: a country's months as dataValueSets JSON or ADX, pushed to the national HMIS.

- mapping.py: the per-country, versioned mapping file (mappings/<CODE>.json) and its checks;
- payload.py: data values from the aggregation query, rendered as JSON or ADX;
- client.py: the POST to /api/dataValueSets and the ImportSummary it answers;
- cli.py: `flask --app server dhis2 export|push --country C --period yyyyMM`.
"""
