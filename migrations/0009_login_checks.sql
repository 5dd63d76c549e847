ALTER TABLE `login_failures` ADD `in_flight` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `login_failures` ADD `in_flight_until` integer DEFAULT 0 NOT NULL;