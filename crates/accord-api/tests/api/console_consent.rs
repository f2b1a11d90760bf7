//! The web console's consent pages, in a real server (and headless Chromium where they run in one).
