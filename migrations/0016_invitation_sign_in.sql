-- Joining an organisation by signing in: a person who already has an account but no active
-- membership anywhere cannot sign in (there is nowhere to sign in to), so they could not
-- accept an invitation with a session either. Now the sign-in itself may carry the invitation:
-- after a right password, auth.sign_in_invitation notes the invitation against the PKCE
-- challenge, and when the sign-in completes (password alone, or with its second factor)
-- auth.issue_code accepts it, for the invitation's own email only, and issues the code for the
-- new membership. No password ever travels to an invitation route, and the lockout, the
-- second factor and the code exchange are the ordinary sign-in's.

grant create on schema auth to thrive_definer;

create table auth.sign_in_invitations (
    user_id          uuid not null references public.users (id) on delete cascade,
    code_challenge   text not null,
    invitation_hash  bytea not null check (length(invitation_hash) = 32),
    expires_at       timestamptz not null,
    primary key (user_id, code_challenge)
);
alter table auth.sign_in_invitations owner to thrive_definer;

-- After a right password: this sign-in (its challenge) also accepts the invitation.
create function auth.sign_in_invitation(p_user uuid, p_challenge text, p_invitation_hash bytea,
                                        p_now timestamptz)
returns void
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    delete from auth.sign_in_invitations where expires_at <= p_now;
    insert into auth.sign_in_invitations (user_id, code_challenge, invitation_hash, expires_at)
    values (p_user, p_challenge, p_invitation_hash, p_now + interval '10 minutes')
    on conflict (user_id, code_challenge) do update
        set invitation_hash = excluded.invitation_hash, expires_at = excluded.expires_at;
end
$$;

-- A one-time code bound to the PKCE challenge. A sign-in that carries an invitation addressed
-- to this person's email, for an organisation they are not in, joins it and signs in there;
-- otherwise the oldest active membership, as before. False when there is none.
create or replace function auth.issue_code(p_user_id uuid, p_code_hash bytea, p_challenge text,
                                           p_now timestamptz, p_ttl interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_membership uuid;
    v_invitation bytea;
    v_email text;
    inv public.staff_invitations;
begin
    delete from auth.sign_in_invitations j
     where j.user_id = p_user_id and j.code_challenge = p_challenge
    returning case when j.expires_at > p_now then j.invitation_hash end into v_invitation;
    if v_invitation is not null then
        inv := auth.open_invitation(v_invitation, p_now);
        perform set_config('auth.subject', p_user_id::text, true);
        select u.email into v_email from public.users u where u.id = p_user_id and u.active;
        if inv.id is not null and v_email = inv.email
           and not exists (select 1 from public.memberships m
                            where m.user_id = p_user_id and m.organization_id = inv.organization_id) then
            perform auth.join_invited(inv, p_user_id, p_now);
            select m.id into v_membership from public.memberships m
             where m.user_id = p_user_id and m.organization_id = inv.organization_id and m.active;
        end if;
        perform set_config('auth.subject', '', true);
        perform set_config('app.invitation_token', '', true);
    end if;
    if v_membership is null then
        perform set_config('auth.subject', p_user_id::text, true);
        select m.id into v_membership
          from public.memberships m
         where m.user_id = p_user_id and m.active
         order by m.created_at, m.id
         limit 1;
        perform set_config('auth.subject', '', true);
    end if;
    if v_membership is null then
        return false;
    end if;
    delete from auth.codes where expires_at <= p_now;
    insert into auth.codes (code_hash, user_id, membership_id, code_challenge, expires_at)
    values (p_code_hash, p_user_id, v_membership, p_challenge, p_now + p_ttl);
    return true;
end
$$;

alter function auth.sign_in_invitation(uuid, text, bytea, timestamptz) owner to thrive_definer;
revoke all on function auth.sign_in_invitation(uuid, text, bytea, timestamptz) from public, thrive_app;
revoke create on schema auth from thrive_definer;
grant execute on function auth.sign_in_invitation(uuid, text, bytea, timestamptz) to thrive_auth;
