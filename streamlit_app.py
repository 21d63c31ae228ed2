"""ENPAR Studio: the frame (page config, shared sidebar) and the router over the page scripts in app/pages/.

Run with `streamlit run streamlit_app.py`. Checkpoints come from $ENPAR_RUNS (default: runs/ here),
gold splits from $ENPAR_DATA (default: ../shared/data).

The page scripts live in app/pages/, a folder Streamlit does not scan (only a `pages/` folder beside the
entrypoint is): st.navigation below is the one page list, so a direct URL such as /breakdown on a fresh
server runs this file first and shows the app's own navigation.
"""

import streamlit as st

from app import state, ui

st.set_page_config(**ui.PAGE_CONFIG)

pages = [
    st.Page(state.PAGE_COMPARE, title="Compare", icon=":material/compare_arrows:", default=True),
    st.Page(state.PAGE_BREAKDOWN, title="Breakdown", icon=":material/bar_chart:"),
    st.Page(state.PAGE_EXAMPLES, title="Examples", icon=":material/format_list_bulleted:"),
    st.Page(state.PAGE_RUNS, title="Runs", icon=":material/pending_actions:"),
]
page = st.navigation(pages)
ui.frame()  # session defaults + the sidebar shared by all pages
page.run()
