-- +goose Up
-- A user holds at most one login per issuer (LinkLogin refuses a second
-- subject claiming an account by email: more likely a takeover than a
-- re-created IdP account). LinkLogin checked it before inserting, so two
-- first logins at once could both pass; the index makes it the rule.
--
-- Links that a race left behind: the oldest link of each (user, issuer)
-- is kept, as if the logins had come one after the other (the later one
-- would have been refused), and every other is deleted with an audit
-- event, so that an administrator can see whose login stopped working
-- and why. Such a person is told at the next sign-in that the account is
-- linked to another login of the identity provider.
WITH ranked AS (
    SELECT org_id, issuer, subject, user_id,
        row_number() OVER (PARTITION BY org_id, user_id, issuer ORDER BY created_at, subject) AS n
    FROM user_links
), dropped AS (
    DELETE FROM user_links l USING ranked r
    WHERE r.n > 1 AND l.org_id = r.org_id AND l.issuer = r.issuer AND l.subject = r.subject
    RETURNING l.org_id, l.issuer, l.subject, l.user_id
)
INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, before, after)
SELECT org_id, 'migration:00021', 'user.unlink', 'User', user_id::text,
    jsonb_build_object('issuer', issuer, 'subject', subject),
    jsonb_build_object('reason', 'a second login of the same identity provider; the oldest link is kept')
FROM dropped;

-- It also serves what user_links_user_idx served: the links of a user
-- (removal, the foreign key's cascade).
CREATE UNIQUE INDEX user_links_user_issuer_key ON user_links (org_id, user_id, issuer);
DROP INDEX user_links_user_idx;

-- +goose Down
CREATE INDEX user_links_user_idx ON user_links (org_id, user_id);
DROP INDEX user_links_user_issuer_key;
