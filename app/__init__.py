"""Reusable parts of the Streamlit app: state, cached loading, rendering and run control."""
