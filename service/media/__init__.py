"""The media library: uploads, their renditions in GridFS, and where they are used."""
