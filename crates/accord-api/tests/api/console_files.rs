//! The web console's files pages, in a real server (and headless Chromium where they run in one).
