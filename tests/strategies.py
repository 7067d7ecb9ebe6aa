"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st

_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)

# DNS-1123 subdomains: every name the API server accepts for an SGLangDeployment.
resource_names = (
    st.lists(_label, min_size=1, max_size=6).map(".".join).filter(lambda n: len(n) <= 253)
)
