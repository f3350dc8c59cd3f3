-- Bots and the built-in chat store are documents (kinds bot, chat_user, channel, chat_message, …). Some are
-- found by id alone (a message clicked on, a response URL), whatever the organization.
CREATE INDEX docs_kind_id ON docs (kind, id);
