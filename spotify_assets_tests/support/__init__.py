"""What the tests and the benches share: core tables from short lists of dicts
(:mod:`.warehouse`), sample worlds as core tables (:mod:`.worlds`), landing zones driven as the
daemon drives them (:mod:`.landing`), a webhook receiver (:mod:`.webhook`), headless Chromium
(:mod:`.browser`), the OpenAPI contract (:mod:`.openapi_schema`) and a code location whose run
worker can be killed (``kill_location.py``)."""
