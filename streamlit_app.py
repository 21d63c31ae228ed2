"""ENPAR Studio: the frame (page config, shared sidebar) and the router over the page files in pages/.

Run with `streamlit run streamlit_app.py`. Checkpoints come from $ENPAR_RUNS (default: runs/ here),
gold splits from $ENPAR_DATA (default: ../shared/data).
"""

import streamlit as st

from app import ui

st.set_page_config(**ui.PAGE_CONFIG)

pages = [
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", default=True),
    st.Page("pages/breakdown.py", title="Breakdown", icon=":material/bar_chart:"),
    st.Page("pages/examples.py", title="Examples", icon=":material/format_list_bulleted:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/pending_actions:"),
]
page = st.navigation(pages)
ui.frame()  # session defaults + the sidebar shared by all pages
page.run()
