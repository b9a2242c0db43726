-- The course-enrolment example (examples/enrolment.sql): consistency
-- boundaries that span streams
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS enrolment CASCADE;
RESET client_min_messages;
\set enrolment :abs_srcdir '/examples/enrolment.sql'
\set ECHO none
\i :enrolment
\set ECHO all

-- Courses, each in its own stream and tagged with itself.
SELECT enrolment.define_course('math', 2);
SELECT enrolment.define_course('art', 1);
SELECT pg_temp.try($$SELECT enrolment.define_course('math', 3)$$);
SELECT pg_temp.try($$SELECT enrolment.define_course('zero', 0)$$);

-- Enrolments: each in the student's stream, tagged with course and student.
SELECT enrolment.enrol('ada', 'math');
SELECT enrolment.enrol('bob', 'math');
SELECT stream_id, stream_version, event_type, data, tags
FROM es.events WHERE event_type = 'StudentEnrolled' ORDER BY global_position;

-- The capacity of a course: full is a refusal (23514), not a conflict.
SELECT pg_temp.try($$SELECT enrolment.enrol('cy', 'math')$$);
SELECT pg_temp.try($$SELECT enrolment.enrol('ada', 'math')$$);
SELECT pg_temp.try($$SELECT enrolment.enrol('ada', 'history')$$);
SELECT enrolment.members('math');

-- A place freed by a student who leaves, or a larger capacity, can be taken.
SELECT enrolment.leave('bob', 'math');
SELECT pg_temp.try($$SELECT enrolment.leave('bob', 'math')$$);
SELECT enrolment.enrol('cy', 'math');
SELECT pg_temp.try($$SELECT enrolment.change_capacity('math', 1)$$);
SELECT enrolment.change_capacity('math', 3);
SELECT enrolment.enrol('bob', 'math');
SELECT enrolment.members('math');

-- The limit per student: at most 5 courses.
SELECT enrolment.define_course(c, 10) FROM unnest(ARRAY['c1', 'c2', 'c3', 'c4', 'c5']) c;
SELECT enrolment.enrol('ada', c) FROM unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c;
SELECT pg_temp.try($$SELECT enrolment.enrol('ada', 'c5')$$);
SELECT enrolment.leave('ada', 'c1');
SELECT enrolment.enrol('ada', 'c5');

-- A decision made on a stale read fails with 40001 and its constraint
-- name: the client retries the whole command, which then decides again.
SELECT max(global_position) AS stale FROM es.read_events(enrolment.course_query('art')) \gset
SELECT enrolment.enrol('dan', 'art');
SELECT pg_temp.try(format($$SELECT es.append_if(enrolment.course_query('art'), %s, 'student-eve', NULL,
    es.event('StudentEnrolled', '{"course_id": "art"}', tags => ARRAY['course:art', 'student:eve']))$$, :stale));
SELECT pg_temp.try($$SELECT enrolment.enrol('eve', 'art')$$);
