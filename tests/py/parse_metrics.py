"""Parses hookd's /metrics with the Prometheus Python client's own OpenMetrics parser, which refuses a malformed
exposition (missing `# EOF`, a histogram without its +Inf bucket or whose buckets go down, a count that is not
the +Inf bucket, a sample of an undeclared family ...). Reads {"text": ...} on stdin and prints the families as
JSON: {family: {"type", "unit", "samples": [[name, labels, value], ...]}}."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = json.load(sys.stdin)["text"]
families = {}
for family in text_string_to_metric_families(text):
    families[family.name] = {
        "type": family.type,
        "unit": family.unit,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps(families))
