//! The web console's datamap pages, in a real server (and headless Chromium where they run in one).
