-- Course enrolment on event_sourcing: schema "enrolment".  Two rules that
-- no single stream holds: a course takes at most its capacity of students,
-- and a student takes at most 5 courses.  Each decision reads the events
-- of its consistency boundary with es.read_events (a query over tags, not
-- a stream), decides, and appends with es.append_if, which appends only if
-- no event of that boundary arrived since the read; otherwise SQLSTATE
-- 40001 (constraint es_append_condition), and the client retries the
-- whole command.  Enrolments of different students into different courses
-- never wait for each other.
--
-- Events (each in the stream of its subject, tagged with everything it
-- concerns):
--
--	 CourseDefined			course-<id>		course:<id>				{"capacity": n}
--	 CourseCapacityChanged	course-<id>		course:<id>				{"capacity": n}
--	 StudentEnrolled		student-<id>	course:<id> student:<id>	{"course_id": c}
--	 StudentLeft			student-<id>	course:<id> student:<id>	{"course_id": c}
--
-- Refusals are never 40001, so that a retry loop does not retry them:
--
--	 course full, student at the limit, bad capacity	23514 (check_violation)
--	 course exists, already enrolled				23505 (unique_violation)
--	 unknown course, not enrolled					P0002 (no_data_found)
--
-- Load it with psql after CREATE EXTENSION event_sourcing.

CREATE SCHEMA enrolment;

-- The most courses a student may take.
CREATE FUNCTION enrolment.max_courses() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 5;

COMMENT ON FUNCTION enrolment.max_courses() IS 'The most courses one student may take';

-- The query of a course's boundary: its definition, capacity and members.
CREATE FUNCTION enrolment.course_query(course_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN jsonb_build_array(jsonb_build_object(
    'types', jsonb_build_array('CourseDefined', 'CourseCapacityChanged', 'StudentEnrolled', 'StudentLeft'),
    'tags', jsonb_build_array('course:' || course_id)));

COMMENT ON FUNCTION enrolment.course_query(text) IS 'The events that decide a course''s capacity and members';

-- The query of a student's boundary: the courses they joined and left.
CREATE FUNCTION enrolment.student_query(student_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN jsonb_build_array(jsonb_build_object(
    'types', jsonb_build_array('StudentEnrolled', 'StudentLeft'),
    'tags', jsonb_build_array('student:' || student_id)));

COMMENT ON FUNCTION enrolment.student_query(text) IS 'The events that decide a student''s courses';

-- A course's state from the events of its boundary (read with
-- es.read_events): whether it exists, its capacity, its members, and the
-- position of the last event read (the bound for es.append_if).
CREATE FUNCTION enrolment.course_state(course_id text,
    OUT defined boolean, OUT capacity integer, OUT members text[], OUT last_position bigint)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    e es.events;
BEGIN
    defined := false;
    members := '{}';
    last_position := 0;
    FOR e IN SELECT * FROM es.read_events(enrolment.course_query(course_id)) LOOP
        CASE e.event_type
            WHEN 'CourseDefined', 'CourseCapacityChanged' THEN
                defined := true;
                capacity := (e.data->>'capacity')::integer;
            WHEN 'StudentEnrolled' THEN
                members := members || substr(e.stream_id, length('student-') + 1);
            WHEN 'StudentLeft' THEN
                members := array_remove(members, substr(e.stream_id, length('student-') + 1));
        END CASE;
        last_position := e.global_position;
    END LOOP;
END $$;

COMMENT ON FUNCTION enrolment.course_state(text) IS
    'A course''s state (defined, capacity, members) and the position it was read up to';

-- Define a course with its capacity.
CREATE FUNCTION enrolment.define_course(course_id text, capacity integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF capacity IS NULL OR capacity < 1 THEN
        RAISE EXCEPTION 'capacity must be at least 1' USING ERRCODE = 'check_violation';
    END IF;
    -- a new stream: a second definition is a version conflict, turned
    -- into a refusal
    BEGIN
        RETURN es.append('course-' || course_id, 0,
            es.event('CourseDefined', jsonb_build_object('capacity', capacity),
                     tags => ARRAY['course:' || course_id]));
    EXCEPTION WHEN serialization_failure THEN
        IF es.stream_version('course-' || course_id) > 0 THEN
            RAISE EXCEPTION 'course "%" already exists', course_id USING ERRCODE = 'unique_violation';
        END IF;
        RAISE;
    END;
END $$;

COMMENT ON FUNCTION enrolment.define_course(text, integer) IS 'Defines a course with its capacity (at least 1)';

-- Change a course's capacity; never below its current number of members.
CREATE FUNCTION enrolment.change_capacity(course_id text, capacity integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c record;
BEGIN
    c := enrolment.course_state(course_id);
    IF NOT c.defined THEN
        RAISE EXCEPTION 'course "%" does not exist', course_id USING ERRCODE = 'no_data_found';
    END IF;
    IF capacity IS NULL OR capacity < greatest(cardinality(c.members), 1) THEN
        RAISE EXCEPTION 'capacity of course "%" cannot be %', course_id, capacity
            USING ERRCODE = 'check_violation',
                  DETAIL = format('The course has %s members.', cardinality(c.members));
    END IF;
    RETURN es.append_if(enrolment.course_query(course_id), c.last_position,
        'course-' || course_id, NULL,
        es.event('CourseCapacityChanged', jsonb_build_object('capacity', capacity),
                 tags => ARRAY['course:' || course_id]));
END $$;

COMMENT ON FUNCTION enrolment.change_capacity(text, integer) IS
    'Changes a course''s capacity, never below its number of members';

-- Enrol a student into a course: the course must exist and have a free
-- place, and the student must take fewer than max_courses() courses.  Both
-- boundaries are read in one es.read_events call, so that one position
-- bounds what was read of both, and the append is conditioned on both.
CREATE FUNCTION enrolment.enrol(student_id text, course_id text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    query jsonb := enrolment.course_query(course_id) || enrolment.student_query(student_id);
    defined boolean := false;
    capacity integer;
    members integer := 0;
    courses text[] := '{}';
    last_position bigint := 0;
    e es.events;
BEGIN
    FOR e IN SELECT * FROM es.read_events(query) LOOP
        -- an event of the course (its definition, capacity, members)
        IF 'course:' || course_id = ANY (e.tags) THEN
            CASE e.event_type
                WHEN 'CourseDefined', 'CourseCapacityChanged' THEN
                    defined := true;
                    capacity := (e.data->>'capacity')::integer;
                WHEN 'StudentEnrolled' THEN
                    members := members + 1;
                WHEN 'StudentLeft' THEN
                    members := members - 1;
            END CASE;
        END IF;
        -- an event of the student (the courses they take)
        IF 'student:' || student_id = ANY (e.tags) THEN
            IF e.event_type = 'StudentEnrolled' THEN
                courses := courses || (e.data->>'course_id');
            ELSE
                courses := array_remove(courses, e.data->>'course_id');
            END IF;
        END IF;
        last_position := e.global_position;
    END LOOP;

    IF NOT defined THEN
        RAISE EXCEPTION 'course "%" does not exist', course_id USING ERRCODE = 'no_data_found';
    END IF;
    IF course_id = ANY (courses) THEN
        RAISE EXCEPTION 'student "%" is already enrolled in course "%"', student_id, course_id
            USING ERRCODE = 'unique_violation';
    END IF;
    IF members >= capacity THEN
        RAISE EXCEPTION 'course "%" is full', course_id
            USING ERRCODE = 'check_violation',
                  DETAIL = format('Its capacity is %s.', capacity);
    END IF;
    IF cardinality(courses) >= enrolment.max_courses() THEN
        RAISE EXCEPTION 'student "%" already takes % courses', student_id, cardinality(courses)
            USING ERRCODE = 'check_violation',
                  DETAIL = format('A student takes at most %s courses.', enrolment.max_courses());
    END IF;

    RETURN es.append_if(query, last_position, 'student-' || student_id, NULL,
        es.event('StudentEnrolled', jsonb_build_object('course_id', course_id),
                 tags => ARRAY['course:' || course_id, 'student:' || student_id]));
END $$;

COMMENT ON FUNCTION enrolment.enrol(text, text) IS
    'Enrols a student into a course with a free place, if the student takes fewer than max_courses() courses';

-- A student leaves a course.
CREATE FUNCTION enrolment.leave(student_id text, course_id text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c record;
BEGIN
    c := enrolment.course_state(course_id);
    IF NOT student_id = ANY (c.members) THEN
        RAISE EXCEPTION 'student "%" is not enrolled in course "%"', student_id, course_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN es.append_if(enrolment.course_query(course_id), c.last_position,
        'student-' || student_id, NULL,
        es.event('StudentLeft', jsonb_build_object('course_id', course_id),
                 tags => ARRAY['course:' || course_id, 'student:' || student_id]));
END $$;

COMMENT ON FUNCTION enrolment.leave(text, text) IS 'A student leaves a course they are enrolled in';

-- The members of a course.
CREATE FUNCTION enrolment.members(course_id text) RETURNS SETOF text
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT unnest((enrolment.course_state(course_id)).members) ORDER BY 1;
END;

COMMENT ON FUNCTION enrolment.members(text) IS 'The students enrolled in a course';
