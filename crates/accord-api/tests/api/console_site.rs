//! The web console's site pages, in a real server (and headless Chromium where they run in one).
