-- The OpenAI-compatible API: the chat template a worker announces for its models (JSON of
-- protocol::ChatTemplateInfo), and the token counts and finish reason a worker reports with a
-- result.
ALTER TABLE workers ADD COLUMN chat_template TEXT;
ALTER TABLE jobs ADD COLUMN prompt_tokens BIGINT;
ALTER TABLE jobs ADD COLUMN completion_tokens BIGINT;
ALTER TABLE jobs ADD COLUMN finish_reason TEXT;
