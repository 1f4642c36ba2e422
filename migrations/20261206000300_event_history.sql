-- The event history (`GET /events`) and the live stream read events by owner and by project
-- (the projects shared with the reader), and resume after a sequence number.
create index event_project_idx on event (project_id, created_at desc) where project_id is not null;
create index event_user_seq_idx on event (user_id, seq) where seq is not null;
