{#- The review, enforced by the database (docs/security.md).

    State of a recommendation: `applied` when applied, else review_status. The one state machine:
        pending -> approved -> applied,  pending -> rejected,  rejected -> pending (re-open).
    Guard triggers (for every role, the owner included; after the row's CHECKs) refuse any other transition, and refuse a state
    change made outside the review functions. The review functions are SECURITY DEFINER (owned by the
    schema owner, search_path pinned): inside them current_user is the schema owner, which is how the
    guards recognise them. They lock the recommendation row, check its state, record who acted
    (the session's principal, else the acting user passed in) and return (changed, state, message).
    Only they can set a diff approved, store an LLM-generated version or make one current. -#}

{#- True inside the review functions (and for the schema owner itself). -#}
{% macro arc_eval_review_context_sql(s) -%}
(current_user = (select pg_get_userbyid(n.nspowner) from pg_namespace n where n.nspname = '{{ s }}'))
{%- endmacro %}


{#- The acting user: the session's principal when it has one, else p_actor (required then). -#}
{% macro arc_eval_review_actor_sql(s) -%}
    actor := coalesce(
        (select p.user_id from {{ s }}.arc_eval_principals p where p.role_name = session_user::text and not p.is_group),
        p_actor
    );
    if actor is null then
        raise exception 'review: no acting user: pass a user id, or connect as a principal with a user id (arc-eval principal add)'
            using errcode = '22023';
    end if;
    perform set_config('arc_eval.user_id', actor::text, true);
{%- endmacro %}


{% macro arc_eval_review_routines(s) %}
{%- set ctx = arc_eval_review_context_sql(s) -%}
{%- set definer = "language plpgsql security definer set search_path = pg_catalog, pg_temp as $arc$
#variable_conflict use_column" -%}
{{ return({

"arc_eval_review_guard": "create or replace function " ~ s ~ ".arc_eval_review_guard() returns trigger
language plpgsql as $arc$
declare
    old_state text;
    new_state text;
    in_review boolean := " ~ ctx ~ ";
begin
    new_state := case when new.applied then 'applied' else new.review_status end;
    if tg_op = 'INSERT' then
        -- Only the owner inserts (the recommender; imports of history). An inserted 'approved' row has no
        -- pinned patch and base unless they are given, and apply refuses it without them.
        return new;
    end if;
    old_state := case when old.applied then 'applied' else old.review_status end;
    if (old.review_status, old.applied, old.applied_at, old.applied_by, old.applied_version_id, old.reviewed_by,
            old.reviewed_at, old.review_reason, old.approved_patch_sha256, old.approved_base_version_id,
            old.approved_base_sha256, old.reviewed_by_role, old.applied_by_role)
        is distinct from
        (new.review_status, new.applied, new.applied_at, new.applied_by, new.applied_version_id, new.reviewed_by,
            new.reviewed_at, new.review_reason, new.approved_patch_sha256, new.approved_base_version_id,
            new.approved_base_sha256, new.reviewed_by_role, new.applied_by_role)
        and not in_review then
        raise exception 'recommendations: the review state changes only through the review functions (arc-eval recommendations approve/reject/reopen/apply)'
            using errcode = '42501';
    end if;
    if new.review_status not in (" ~ arc_eval_rule_literals('review_statuses') ~ ") then
        return new;  -- refused by the CHECK constraint, which names the rule
    end if;
    if old_state <> new_state and (old_state, new_state) not in
            (('pending', 'approved'), ('pending', 'rejected'), ('approved', 'applied'), ('rejected', 'pending')) then
        raise exception 'recommendations: % -> % is not a review transition (pending -> approved -> applied, pending -> rejected, rejected -> pending by re-open)',
            old_state, new_state using errcode = '23514';
    end if;
    if old_state <> 'pending' and (old.suggested_yaml_changes, old.config_id, old.base_version_id, old.recommendation_type,
            old.confidence, old.impact_estimate, old.description)
        is distinct from (new.suggested_yaml_changes, new.config_id, new.base_version_id, new.recommendation_type,
            new.confidence, new.impact_estimate, new.description) then
        raise exception 'recommendations: a % recommendation cannot change its content', old_state using errcode = '23514';
    end if;
    if new_state in ('approved', 'applied') and (new.reviewed_by is null or new.approved_patch_sha256 is null
            or new.approved_base_sha256 is null) then
        raise exception 'recommendations: an approved recommendation records its reviewer and the SHA-256 of its patch and base'
            using errcode = '23514';
    end if;
    if new_state = 'rejected' and coalesce(btrim(new.review_reason), '') = '' then
        raise exception 'recommendations: a rejection needs a reason' using errcode = '23514';
    end if;
    return new;
end
$arc$",

"arc_eval_version_guard": "create or replace function " ~ s ~ ".arc_eval_version_guard() returns trigger
language plpgsql as $arc$
begin
    if " ~ ctx ~ " then
        return new;
    end if;
    -- One branch per table: PL/pgSQL plans a condition with the fields of the row it is given.
    if tg_table_name = 'config_versions' then
        if new.generated_by = 'llm_recommendation' then
            raise exception 'config_versions: generated_by ''llm_recommendation'' is set only by applying an approved recommendation (arc-eval recommendations apply)'
                using errcode = '42501';
        end if;
    elsif tg_table_name = 'config_diffs' then
        if tg_op = 'UPDATE' then
            if (old.approval_status, old.llm_generated, old.approved_by)
                is not distinct from (new.approval_status, new.llm_generated, new.approved_by) then
                return new;
            end if;
        end if;
        if new.approval_status = 'approved' or coalesce(new.llm_generated, false) then
            raise exception 'config_diffs: an approved or LLM-generated change is recorded only by applying an approved recommendation (arc-eval recommendations apply)'
                using errcode = '42501';
        end if;
    elsif tg_table_name = 'configurations' then
        if new.latest_version_id is distinct from old.latest_version_id and exists (
            select 1 from " ~ s ~ ".config_versions v where v.version_id = new.latest_version_id and v.generated_by = 'llm_recommendation'
        ) then
            raise exception 'configurations: an LLM-generated version becomes current only by applying an approved recommendation (arc-eval recommendations apply)'
                using errcode = '42501';
        end if;
    end if;
    return new;
end
$arc$",

"arc_eval_review_approve": "create or replace function " ~ s ~ ".arc_eval_review_approve(
    p_id uuid, p_patch_sha256 text, p_base_version_id uuid, p_actor uuid default null
) returns table (changed boolean, review_state text, message text)
" ~ definer ~ "
declare
    actor uuid;
    r record;
    base record;
begin
    " ~ arc_eval_review_actor_sql(s) ~ "
    select * into r from " ~ s ~ ".recommendations where recommendation_id = p_id for update;
    if not found then
        raise exception 'no recommendation with id %', p_id using errcode = 'P0002';
    end if;
    if r.applied then
        raise exception 'recommendation % is already applied: nothing to approve', p_id using errcode = '55000';
    elsif r.review_status = 'approved' then
        return query select false, 'approved'::text, format('recommendation %s was already approved by %s at %s: nothing changed', p_id, r.reviewed_by, r.reviewed_at);
        return;
    elsif r.review_status = 'rejected' then
        raise exception 'recommendation % was rejected (%): re-open it first (arc-eval recommendations reopen)', p_id, r.review_reason
            using errcode = '55000';
    end if;
    if r.config_id is null then
        raise exception 'recommendation % names no configuration', p_id using errcode = '55000';
    end if;
    if p_patch_sha256 is distinct from encode(sha256(convert_to(coalesce(r.suggested_yaml_changes, ''), 'UTF8')), 'hex') then
        raise exception 'recommendation %: the patch changed since it was shown (shown sha256 %): show it again and approve what you see',
            p_id, coalesce(p_patch_sha256, 'none') using errcode = '55000';
    end if;
    select c.latest_version_id, v.version_number, v.config_hash into base
    from " ~ s ~ ".configurations c join " ~ s ~ ".config_versions v on v.version_id = c.latest_version_id
    where c.config_id = r.config_id for share of c;
    if base.latest_version_id is null or base.latest_version_id is distinct from p_base_version_id then
        raise exception 'recommendation %: the configuration moved: it was shown against version id %, the current version is % (%): show it again',
            p_id, p_base_version_id, base.version_number, base.latest_version_id using errcode = '55000';
    end if;
    update " ~ s ~ ".recommendations set review_status = 'approved', reviewed_by = actor, reviewed_at = now(),
        reviewed_by_role = session_user::text, review_reason = null, approved_patch_sha256 = p_patch_sha256,
        approved_base_version_id = base.latest_version_id, approved_base_sha256 = base.config_hash
    where recommendation_id = p_id;
    return query select true, 'approved'::text, format('recommendation %s approved by %s against version %s', p_id, actor, base.version_number);
end
$arc$",

"arc_eval_review_reject": "create or replace function " ~ s ~ ".arc_eval_review_reject(
    p_id uuid, p_reason text, p_actor uuid default null
) returns table (changed boolean, review_state text, message text)
" ~ definer ~ "
declare
    actor uuid;
    r record;
begin
    if coalesce(btrim(p_reason), '') = '' then
        raise exception 'reject: a reason is required' using errcode = '22023';
    end if;
    if length(p_reason) > 2000 then
        raise exception 'reject: the reason must be at most 2000 characters (got %)', length(p_reason) using errcode = '22023';
    end if;
    " ~ arc_eval_review_actor_sql(s) ~ "
    select * into r from " ~ s ~ ".recommendations where recommendation_id = p_id for update;
    if not found then
        raise exception 'no recommendation with id %', p_id using errcode = 'P0002';
    end if;
    if r.applied then
        raise exception 'recommendation % is already applied and cannot be rejected', p_id using errcode = '55000';
    elsif r.review_status = 'rejected' then
        return query select false, 'rejected'::text, format('recommendation %s was already rejected by %s at %s (%s): nothing changed', p_id, r.reviewed_by, r.reviewed_at, r.review_reason);
        return;
    elsif r.review_status = 'approved' then
        raise exception 'recommendation % is approved: an approved recommendation is applied, not rejected', p_id using errcode = '55000';
    end if;
    update " ~ s ~ ".recommendations set review_status = 'rejected', reviewed_by = actor, reviewed_at = now(),
        reviewed_by_role = session_user::text, review_reason = p_reason
    where recommendation_id = p_id;
    return query select true, 'rejected'::text, format('recommendation %s rejected by %s: %s', p_id, actor, p_reason);
end
$arc$",

"arc_eval_review_reopen": "create or replace function " ~ s ~ ".arc_eval_review_reopen(
    p_id uuid, p_actor uuid default null
) returns table (changed boolean, review_state text, message text)
" ~ definer ~ "
declare
    actor uuid;
    r record;
begin
    " ~ arc_eval_review_actor_sql(s) ~ "
    select * into r from " ~ s ~ ".recommendations where recommendation_id = p_id for update;
    if not found then
        raise exception 'no recommendation with id %', p_id using errcode = 'P0002';
    end if;
    if r.applied or r.review_status = 'approved' then
        raise exception 'recommendation % is %: only a rejected recommendation can be re-opened', p_id,
            case when r.applied then 'applied' else 'approved' end using errcode = '55000';
    elsif r.review_status = 'pending' then
        return query select false, 'pending'::text, format('recommendation %s is already pending: nothing changed', p_id);
        return;
    end if;
    update " ~ s ~ ".recommendations set review_status = 'pending', reviewed_by = actor, reviewed_at = now(),
        reviewed_by_role = session_user::text, review_reason = null, approved_patch_sha256 = null,
        approved_base_version_id = null, approved_base_sha256 = null
    where recommendation_id = p_id;
    return query select true, 'pending'::text, format('recommendation %s re-opened by %s: pending again', p_id, actor);
end
$arc$",

"arc_eval_review_feedback": "create or replace function " ~ s ~ ".arc_eval_review_feedback(
    p_id uuid, p_score integer, p_actor uuid default null
) returns table (changed boolean, review_state text, message text)
" ~ definer ~ "
declare
    actor uuid;
    r record;
begin
    if p_score is null or p_score not between 1 and 5 then
        raise exception 'feedback: the score must be an integer from 1 to 5 (got %)', p_score using errcode = '22023';
    end if;
    " ~ arc_eval_review_actor_sql(s) ~ "
    select * into r from " ~ s ~ ".recommendations where recommendation_id = p_id for update;
    if not found then
        raise exception 'no recommendation with id %', p_id using errcode = 'P0002';
    end if;
    update " ~ s ~ ".recommendations set feedback_score = p_score where recommendation_id = p_id;
    return query select r.feedback_score is distinct from p_score,
        case when r.applied then 'applied' else r.review_status end,
        format('recommendation %s: feedback %s/5 from %s', p_id, p_score, actor);
end
$arc$",

"arc_eval_review_apply": "create or replace function " ~ s ~ ".arc_eval_review_apply(
    p_id uuid, p_patch_sha256 text, p_raw_yaml text, p_canonical_json text, p_embedding real[],
    p_diff_yaml text, p_change_summary jsonb, p_actor uuid default null
) returns table (version_id uuid, version_number integer, created boolean, already_applied boolean, message text)
" ~ definer ~ "
declare
    actor uuid;
    r record;
    cfg record;
    base record;
    target record;
    new_hash text;
    made boolean := false;
begin
    " ~ arc_eval_review_actor_sql(s) ~ "
    select * into r from " ~ s ~ ".recommendations where recommendation_id = p_id for update;
    if not found then
        raise exception 'no recommendation with id %', p_id using errcode = 'P0002';
    end if;
    if r.applied then
        return query select v.version_id, v.version_number, false, true,
            format('recommendation %s was already applied as version %s: nothing changed', p_id, v.version_number)
        from " ~ s ~ ".config_versions v where v.version_id = r.applied_version_id;
        return;
    end if;
    if r.review_status <> 'approved' then
        raise exception 'recommendation % is %: only an approved recommendation is applied%', p_id, r.review_status,
            case when r.review_status = 'rejected' then ' (re-open and approve it first)' else ' (approve it first)' end
            using errcode = '55000';
    end if;
    if r.approved_patch_sha256 is null or r.approved_base_version_id is null then
        raise exception 'recommendation %: refused: it was not approved through the review (no pinned patch and base): approve it again', p_id
            using errcode = '55000';
    end if;
    if encode(sha256(convert_to(coalesce(r.suggested_yaml_changes, ''), 'UTF8')), 'hex') is distinct from r.approved_patch_sha256 then
        raise exception 'recommendation %: refused: the stored patch changed after it was approved (approved sha256 %)', p_id, r.approved_patch_sha256
            using errcode = '55000';
    end if;
    if p_patch_sha256 is distinct from r.approved_patch_sha256 then
        raise exception 'recommendation %: refused: the patch being applied (sha256 %) is not the approved one (sha256 %)', p_id,
            coalesce(p_patch_sha256, 'none'), r.approved_patch_sha256 using errcode = '55000';
    end if;
    select c.config_id, c.latest_version_id into cfg from " ~ s ~ ".configurations c where c.config_id = r.config_id for update;
    select v.version_id, v.version_number, v.config_hash into base from " ~ s ~ ".config_versions v where v.version_id = r.approved_base_version_id;
    if cfg.latest_version_id is distinct from r.approved_base_version_id or base.config_hash is distinct from r.approved_base_sha256 then
        raise exception 'recommendation %: refused: the base moved: approved against version % (%), the configuration is now at %: re-open is not possible; make a new recommendation',
            p_id, base.version_number, r.approved_base_version_id, cfg.latest_version_id using errcode = '55000';
    end if;
    if p_canonical_json is null or p_raw_yaml is null then
        raise exception 'recommendation %: the patched configuration is missing', p_id using errcode = '22023';
    end if;
    new_hash := encode(sha256(convert_to(p_canonical_json, 'UTF8')), 'hex');
    select v.version_id, v.version_number into target from " ~ s ~ ".config_versions v
    where v.config_id = cfg.config_id and v.config_hash = new_hash and not coalesce(v.is_deleted, false)
    order by v.version_number limit 1;
    if target.version_id is null then
        insert into " ~ s ~ ".config_versions (config_id, version_number, raw_yaml, parsed_config, config_hash, embedding, generated_by)
        select cfg.config_id, coalesce(max(v.version_number), 0) + 1, p_raw_yaml, p_canonical_json::jsonb, new_hash, p_embedding,
            'llm_recommendation'
        from " ~ s ~ ".config_versions v where v.config_id = cfg.config_id
        returning config_versions.version_id, config_versions.version_number into target;
        made := true;
    end if;
    if target.version_id <> cfg.latest_version_id then
        update " ~ s ~ ".configurations set latest_version_id = target.version_id, updated_at = greatest(now(), created_at)
        where config_id = cfg.config_id;
        insert into " ~ s ~ ".config_diffs (config_id, version_before, version_after, diff_yaml, change_summary,
            impact_prediction, llm_generated, approval_status, approved_by)
        values (cfg.config_id, cfg.latest_version_id, target.version_id, p_diff_yaml, p_change_summary,
            r.impact_estimate, true, 'approved', actor);
    end if;
    update " ~ s ~ ".recommendations set applied = true, applied_at = now(), applied_by = actor,
        applied_version_id = target.version_id, applied_by_role = session_user::text
    where recommendation_id = p_id;
    return query select target.version_id, target.version_number, made, false,
        format('recommendation %s applied by %s: %s version %s', p_id, actor,
            case when made then 'created' else 'made current' end, target.version_number);
end
$arc$",

}) }}
{% endmacro %}


{#- Guard triggers: {table: (trigger name, timing and events, function)}. AFTER row triggers, so a row
    that breaks a CHECK or a foreign key is refused by that rule first, under its name. -#}
{% macro arc_eval_review_triggers() %}
    {{ return({
        "recommendations": ("arc_eval_review_check", "after insert or update", "arc_eval_review_guard"),
        "config_versions": ("arc_eval_version_check", "after insert", "arc_eval_version_guard"),
        "config_diffs": ("arc_eval_version_check", "after insert or update", "arc_eval_version_guard"),
        "configurations": ("arc_eval_version_check", "after update", "arc_eval_version_guard"),
    }) }}
{% endmacro %}
