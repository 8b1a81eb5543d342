"""The media library: uploads cleaned and resized, stored in the GridFS bucket `media`, served
with HTTP caching and ranges (issue 22)."""
