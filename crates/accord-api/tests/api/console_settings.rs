//! The web console's settings pages, in a real server (and headless Chromium where they run in one).
