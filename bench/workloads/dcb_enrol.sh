# Course enrolment (examples/enrolment.sql) with 4 clients: throughput and
# conflicts of decisions whose boundary spans streams.
title="Enrolments into 100 courses: es.append_if vs row locks in plain SQL"
describe="100 courses of capacity 100,000 and 100,000 students. Each
transaction enrols a random student into a random course (a refusal --
already enrolled, or 5 courses -- is caught and counts as a transaction).
A: \`enrolment.enrol\` of the example: one es.read_events over the course's
and the student's boundaries, es.append_if over both (a concurrent
enrolment into the same course or by the same student makes it wait,
then fail with 40001; pgbench retries it). B: plain SQL that locks the
course's and the student's counter rows (\`SELECT ... FOR UPDATE\`, upsert),
checks, and inserts the event row."
unit=tps
per_tx=1
clients="4"
sync="on off"

setup_sql() {
    echo "\\i $BENCH/../examples/enrolment.sql"
    cat <<'SQL'
SELECT enrolment.define_course('c' || i, 100000) FROM generate_series(1, 100) i;
CREATE FUNCTION enrolment.try_enrol(student text, course text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM enrolment.enrol(student, course);
    RETURN 'ok';
EXCEPTION WHEN check_violation OR unique_violation THEN
    RETURN 'refused';
END $$;
CREATE TABLE raw.courses (course_id text PRIMARY KEY, capacity int NOT NULL, members int NOT NULL DEFAULT 0);
CREATE TABLE raw.students (student_id text PRIMARY KEY, courses text[] NOT NULL DEFAULT '{}');
INSERT INTO raw.courses (course_id, capacity) SELECT 'c' || i, 100000 FROM generate_series(1, 100) i;
CREATE FUNCTION raw.try_enrol(student text, course text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE c raw.courses; taken text[];
BEGIN
    SELECT * INTO c FROM raw.courses WHERE course_id = course FOR UPDATE;
    INSERT INTO raw.students AS s VALUES (student) ON CONFLICT (student_id) DO UPDATE SET courses = s.courses
    RETURNING s.courses INTO taken;
    IF course = ANY (taken) OR cardinality(taken) >= 5 OR c.members >= c.capacity THEN
        RETURN 'refused';
    END IF;
    UPDATE raw.courses SET members = members + 1 WHERE course_id = course;
    UPDATE raw.students SET courses = courses || course WHERE student_id = student;
    INSERT INTO raw.events (stream_id, stream_version, event_id, event_type, schema_version, data, occurred_at, tags)
    VALUES ('student-' || student, cardinality(taken) + 1, es.uuid_v7(), 'StudentEnrolled', 1,
            jsonb_build_object('course_id', course), now(), ARRAY['course:' || course, 'student:' || student]);
    RETURN 'ok';
END $$;
SQL
}

script_a() {
    cat <<'SQL'
\set s random(1, 100000)
\set c random(1, 100)
SELECT enrolment.try_enrol('s' || :s, 'c' || :c);
SQL
}

script_b() {
    cat <<'SQL'
\set s random(1, 100000)
\set c random(1, 100)
SELECT raw.try_enrol('s' || :s, 'c' || :c);
SQL
}
