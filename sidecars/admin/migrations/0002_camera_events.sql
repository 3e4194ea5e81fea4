-- Cameras learned from Cidades' camera.* events: the event time orders the changes (a late
-- copy of an older event changes nothing) and a deletion is kept as a tombstone so a late
-- camera.updated cannot bring the camera back.
ALTER TABLE cameras ADD COLUMN event_at timestamptz;
ALTER TABLE cameras ADD COLUMN deleted boolean NOT NULL DEFAULT false;
